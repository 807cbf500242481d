//! The sandbox hosted payment page, in the style of GOV.UK Pay: the API creates a payment and
//! hands back `next_url`; the resident pays here in a browser window; the app then asks the API
//! for the payment's status. Nothing the browser returns is trusted.
//!
//! Test cards (GOV.UK Pay's published sandbox numbers): 4444 3333 2222 1111 succeeds,
//! 4000 0000 0000 0002 is declined, 4000 0000 0000 0069 is an expired card,
//! 4000 0000 0000 0119 fails to process. Any other number is refused as not a test card.

use crate::error::Error;
use crate::service::{self, CardOutcome, PaymentRow};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::Datelike;
use kerbside_rules::{uk_local_date, Money};
use serde::Deserialize;

pub const APPROVED_CARD: &str = "4444333322221111";
pub const DECLINED_CARD: &str = "4000000000000002";
pub const EXPIRED_CARD: &str = "4000000000000069";
pub const PROCESSING_ERROR_CARD: &str = "4000000000000119";

pub fn router() -> Router<AppState> {
    Router::new().route("/pay/{payment_id}/{page_token}", get(show).post(submit))
}

#[derive(Deserialize, Default)]
pub struct CardForm {
    #[serde(default)]
    card_number: String,
    #[serde(default)]
    expiry_month: String,
    #[serde(default)]
    expiry_year: String,
    #[serde(default)]
    security_code: String,
    #[serde(default)]
    cardholder_name: String,
}

async fn show(
    State(state): State<AppState>,
    Path((id, token)): Path<(String, String)>,
) -> Response {
    match load(&state, &id, &token).await {
        Ok(Some(page)) => render(&page, None, &CardForm::default()),
        Ok(None) => not_found(),
        Err(e) => e.into_response(),
    }
}

async fn submit(
    State(state): State<AppState>,
    Path((id, token)): Path<(String, String)>,
    Form(form): Form<CardForm>,
) -> Response {
    let page = match load(&state, &id, &token).await {
        Ok(Some(page)) => page,
        Ok(None) => return not_found(),
        Err(e) => return e.into_response(),
    };
    if page.payment.status != "created" {
        return render(&page, None, &form);
    }
    let outcome = match check_card(&state, &form) {
        Ok(outcome) => outcome,
        Err(problem) => return render(&page, Some(&problem), &form),
    };
    match service::complete_read_payment(&state, &page.payment, outcome).await {
        Ok(payment) => render(&Page { payment, ..page }, None, &CardForm::default()),
        Err(e) => e.into_response(),
    }
}

struct Page {
    payment: PaymentRow,
    description: String,
    council_name: String,
}

async fn load(state: &AppState, id: &str, token: &str) -> Result<Option<Page>, Error> {
    let Some(service::PaymentForPage {
        mut payment,
        permit_type,
        registration,
    }) = service::payment_for_page(state, id).await?
    else {
        return Ok(None);
    };
    // Constant-time enough: the token is 256 random bits, compared whole.
    if payment.page_token != token {
        return Ok(None);
    }
    let now = state.clock.now();
    if payment.past_its_deadline(now) {
        service::fail_expired_payments_in_turn(state, now).await?;
        payment = service::payment_row(state, id).await?.unwrap_or(payment);
    }
    let registration = kerbside_rules::Registration::parse(&registration)
        .map(|r| r.canonical())
        .unwrap_or(registration);
    let description = format!(
        "{} for {}",
        service::parse_permit_type(&permit_type)?.label(),
        registration
    );
    Ok(Some(Page {
        payment,
        description,
        council_name: state.council.tariff.council_name.clone(),
    }))
}

fn check_card(state: &AppState, form: &CardForm) -> Result<CardOutcome, String> {
    let number: String = form
        .card_number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if number.is_empty() {
        return Err("Enter the card number.".into());
    }
    if !(12..=19).contains(&number.len())
        || !number.chars().all(|c| c.is_ascii_digit())
        || !luhn_valid(&number)
    {
        return Err("Enter a valid card number, like 4444 3333 2222 1111.".into());
    }
    let month: u32 = form
        .expiry_month
        .trim()
        .parse()
        .map_err(|_| "Enter the expiry month as a number, like 04.".to_string())?;
    let year: i32 = form
        .expiry_year
        .trim()
        .parse()
        .map_err(|_| "Enter the expiry year, like 2029.".to_string())?;
    let year = if year < 100 { 2000 + year } else { year };
    if !(1..=12).contains(&month) {
        return Err("The expiry month must be between 1 and 12.".into());
    }
    let today = uk_local_date(state.clock.now());
    if (year, month) < (today.year(), today.month()) {
        return Err(
            "The card's expiry date is in the past. Check the date or use another card.".into(),
        );
    }
    let code = form.security_code.trim();
    if !(3..=4).contains(&code.len()) || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(
            "Enter the card security code: the last 3 digits on the back of the card.".into(),
        );
    }
    if form.cardholder_name.trim().is_empty() {
        return Err("Enter the name on the card.".into());
    }
    let last4 = number[number.len() - 4..].to_string();
    match number.as_str() {
        APPROVED_CARD => Ok(CardOutcome::Approved { last4 }),
        DECLINED_CARD => Ok(CardOutcome::Declined {
            reason: "Your card was declined. No money was taken; start again to try another card."
                .into(),
        }),
        EXPIRED_CARD => Ok(CardOutcome::Declined {
            reason: "Your card has expired. No money was taken; start again to try another card."
                .into(),
        }),
        PROCESSING_ERROR_CARD => Ok(CardOutcome::Declined {
            reason: "The card payment could not be processed. No money was taken; try again later."
                .into(),
        }),
        _ => Err("This is a test payment page: use one of the test cards listed below.".into()),
    }
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 {
                    dd - 9
                } else {
                    dd
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn return_link(payment: &PaymentRow) -> String {
    match &payment.return_url {
        Some(url) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!(
                r#"<p><a class="button" href="{}">Return to Kerbside</a></p>"#,
                escape(&format!("{url}{sep}payment_id={}", payment.id))
            )
        }
        None => "<p>You can close this window and go back to Kerbside.</p>".to_string(),
    }
}

fn render(page: &Page, problem: Option<&str>, form: &CardForm) -> Response {
    let amount = Money(page.payment.amount_pence);
    let (status, title, body) = match page.payment.status.as_str() {
        "succeeded" => (
            StatusCode::OK,
            "Payment received".to_string(),
            format!(
                r#"<div class="panel"><h1>Payment received</h1><p>{amount} for {desc}</p></div>
<p>Your payment reference is <strong>{id}</strong>. Kerbside will confirm your permit with {council}.</p>{back}"#,
                desc = escape(&page.description),
                id = escape(&page.payment.id),
                council = escape(&page.council_name),
                back = return_link(&page.payment)
            ),
        ),
        "failed" => (
            StatusCode::OK,
            "Payment not taken".to_string(),
            format!(
                r#"<h1>Your payment was not taken</h1><p class="error">{reason}</p><p>Your permit has not been issued.</p>{back}"#,
                reason = escape(
                    page.payment
                        .failure_reason
                        .as_deref()
                        .unwrap_or("The payment failed.")
                ),
                back = return_link(&page.payment)
            ),
        ),
        _ => {
            let summary = problem
                .map(|p| {
                    format!(
                        r##"<div class="error-summary" role="alert" tabindex="-1"><h2>There is a problem</h2><p><a href="#card_number">{}</a></p></div>"##,
                        escape(p)
                    )
                })
                .unwrap_or_default();
            (
                if problem.is_some() {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::OK
                },
                format!("Pay {amount}"),
                format!(
                    r#"{summary}<h1>Enter card details</h1>
<p class="lead">{desc}<br><strong>Total: {amount}</strong></p>
<form method="post" novalidate>
<label for="card_number">Card number</label>
<input id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number" value="{number}">
<fieldset><legend>Expiry date</legend>
<label for="expiry_month">Month</label><input id="expiry_month" name="expiry_month" inputmode="numeric" autocomplete="cc-exp-month" size="2" value="{month}">
<label for="expiry_year">Year</label><input id="expiry_year" name="expiry_year" inputmode="numeric" autocomplete="cc-exp-year" size="4" value="{year}">
</fieldset>
<label for="cardholder_name">Name on card</label>
<input id="cardholder_name" name="cardholder_name" autocomplete="cc-name" value="{name}">
<label for="security_code">Card security code</label>
<input id="security_code" name="security_code" inputmode="numeric" autocomplete="cc-csc" size="4">
<button type="submit">Pay {amount}</button>
</form>
<details><summary>Test cards (this is a sandbox: no real money moves)</summary>
<ul><li>4444 3333 2222 1111: payment succeeds</li><li>4000 0000 0000 0002: card declined</li>
<li>4000 0000 0000 0069: card expired</li><li>4000 0000 0000 0119: processing error</li></ul>
<p>Use any future expiry date, any name and any 3-digit security code.</p></details>"#,
                    desc = escape(&page.description),
                    number = escape(&form.card_number),
                    month = escape(&form.expiry_month),
                    year = escape(&form.expiry_year),
                    name = escape(&form.cardholder_name),
                ),
            )
        }
    };
    let html = format!(
        r#"<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – {council}</title><style>{STYLE}</style></head>
<body><header><span>{council}</span> · Permit payments <span class="tag">SANDBOX</span></header><main id="main">{body}</main></body></html>"#,
        title = escape(&title),
        council = escape(&page.council_name),
    );
    let mut response = (status, Html(html)).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn not_found() -> Response {
    let mut response = (
        StatusCode::NOT_FOUND,
        Html(format!(
            r#"<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>Payment not found</title><style>{STYLE}</style></head><body><main><h1>Payment not found</h1><p>This payment link is not valid. Start the purchase again in Kerbside.</p></main></body></html>"#
        )),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

const STYLE: &str = "body{font-family:system-ui,Arial,sans-serif;margin:0;color:#0b0c0c;background:#fff;line-height:1.4}\
header{background:#0b0c0c;color:#fff;padding:12px 24px;font-weight:600}.tag{background:#f47738;color:#0b0c0c;padding:2px 6px;margin-left:8px;font-size:.8em}\
main{max-width:560px;padding:24px}label,legend{display:block;font-weight:600;margin:16px 0 4px}\
input{font-size:1.1em;padding:6px;border:2px solid #0b0c0c;min-height:32px}#card_number,#cardholder_name{width:100%;box-sizing:border-box}\
fieldset{border:0;padding:0;margin:0}fieldset label{display:inline-block;margin-right:8px;font-weight:400}\
button,.button{display:inline-block;margin-top:24px;background:#00703c;color:#fff;border:0;padding:10px 16px;font-size:1.1em;cursor:pointer;text-decoration:none;min-height:24px}\
:focus{outline:3px solid #fd0;outline-offset:0}.error,.error-summary{color:#d4351c}.error-summary{border:4px solid #d4351c;padding:12px;margin-bottom:16px}\
.panel{background:#00703c;color:#fff;padding:16px;text-align:center}.lead{font-size:1.1em}details{margin-top:24px}\
@media (prefers-color-scheme: dark){body{background:#111;color:#eee}header{border-bottom:1px solid #555}a{color:#8fd3df}\
input{background:#222;color:#eee;border-color:#eee}.error,.error-summary{color:#ff9a9f}.error-summary{border-color:#ff9a9f}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_test_cards_pass_the_luhn_check() {
        for card in [
            APPROVED_CARD,
            DECLINED_CARD,
            EXPIRED_CARD,
            PROCESSING_ERROR_CARD,
        ] {
            assert!(luhn_valid(card), "{card}");
        }
        assert!(!luhn_valid("4444333322221112"));
    }

    #[test]
    fn page_text_is_escaped() {
        assert_eq!(
            escape(r#"<b a="1">&'"#),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;"
        );
    }
}
