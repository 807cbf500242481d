import type { Route } from "../routes";
import type { ScreenFn } from "../screen";
import { dataScreen, profileScreen, settingsScreen } from "./account";
import { buyScreen } from "./buy";
import { detailScreen, printScreen } from "./detail";
import { cancelScreen, editScreen, renewScreen } from "./manage";
import { moveScreen } from "./move";
import { continuePaymentScreen } from "./payflow";
import { permitsScreen } from "./permits";
import { registerScreen, signInScreen } from "./signin";

export const SCREENS: Record<Route["name"], ScreenFn> = {
  "sign-in": signInScreen,
  register: registerScreen,
  permits: permitsScreen,
  detail: detailScreen,
  print: printScreen,
  edit: editScreen,
  renew: renewScreen,
  pay: continuePaymentScreen,
  cancel: cancelScreen,
  buy: buyScreen,
  profile: profileScreen,
  move: moveScreen,
  data: dataScreen,
  settings: settingsScreen,
};
