/** The order permits are listed in: what is usable now first, then what is waiting, then the past. */

import type { PermitCard } from "./bindings/PermitCard";
import type { PermitStatus } from "./bindings/PermitStatus";

const RANK: Record<PermitStatus, number> = {
  active: 0,
  upcoming: 1,
  awaiting_payment: 2,
  superseded_by_renewal: 3,
  payment_failed: 4,
  expired: 5,
  cancelled: 6,
};

/** Live, upcoming and awaiting-payment permits are "current"; the rest are earlier ones. */
export function isCurrent(card: Pick<PermitCard, "status">): boolean {
  return RANK[card.status] <= RANK.awaiting_payment;
}

/** Sorted by status, then the soonest expiry first among current permits and the latest first among earlier ones. */
export function sortCards(cards: readonly PermitCard[]): PermitCard[] {
  return [...cards].sort((a, b) => {
    const r = RANK[a.status] - RANK[b.status];
    if (r !== 0) return r;
    const ea = a.permit.expires_on;
    const eb = b.permit.expires_on;
    // Registrations are canonical (A-Z, 0-9, one space), so code-unit order is the order.
    if (ea === eb) return a.permit.registration < b.permit.registration ? -1 : a.permit.registration > b.permit.registration ? 1 : 0;
    const soonestFirst = ea < eb ? -1 : 1;
    return isCurrent(a) ? soonestFirst : -soonestFirst;
  });
}

export function splitCards(cards: readonly PermitCard[]): { current: PermitCard[]; earlier: PermitCard[] } {
  const sorted = sortCards(cards);
  return { current: sorted.filter(isCurrent), earlier: sorted.filter((c) => !isCurrent(c)) };
}
