import { InvalidRequest } from "./errors";

/**
 * An amount in integer minor units (cents for USD). Accepted as a `bigint`, a safe integer
 * `number`, or a decimal string of digits. Never a float: `799.99` is rejected, write `79999`.
 */
export type AmountInput = bigint | number | string;

/** The largest value of a protobuf int64. */
export const INT64_MAX = 9223372036854775807n;

const DIGITS = /^(0|[1-9][0-9]*)$/;

/**
 * Validates an amount in minor units and returns it as a `bigint`.
 *
 * Rejects (with {@link InvalidRequest}) fractions, NaN, infinities, negative values, numbers
 * beyond `Number.MAX_SAFE_INTEGER` (they may already have lost precision; pass a `bigint` or a
 * string instead), strings that are not plain decimal digits (`"1e3"`, `" 12"`, `"7.50"`), and
 * anything above the int64 range.
 */
export function parseMinorUnits(value: AmountInput, field = "amount.amount_minor"): bigint {
  let parsed: bigint;
  if (typeof value === "bigint") {
    parsed = value;
  } else if (typeof value === "number") {
    if (!Number.isFinite(value) || !Number.isInteger(value)) {
      throw new InvalidRequest(
        field,
        `must be an integer number of minor units, got ${String(value)}`,
      );
    }
    if (!Number.isSafeInteger(value)) {
      throw new InvalidRequest(
        field,
        "is beyond Number.MAX_SAFE_INTEGER and may have lost precision; pass a bigint or a string",
      );
    }
    parsed = BigInt(value);
  } else if (typeof value === "string") {
    if (!DIGITS.test(value)) {
      throw new InvalidRequest(field, "must be a string of decimal digits (integer minor units)");
    }
    parsed = BigInt(value);
  } else {
    throw new InvalidRequest(field, "must be a bigint, an integer number or a string of digits");
  }
  if (parsed < 0n) {
    throw new InvalidRequest(field, "must not be negative");
  }
  if (parsed > INT64_MAX) {
    throw new InvalidRequest(field, "exceeds the int64 range");
  }
  return parsed;
}

/**
 * ISO-4217 alphabetic codes of current currencies (plus funds, precious metals and test codes):
 * the services' table (behalf.common.currencies), copied; tests/cases/grammar_cases.json, which
 * the Python tests keep in step with that table, proves the two agree.
 */
export const ISO_4217: ReadonlySet<string> = new Set(
  `
  AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
  BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
  DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
  IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
  MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
  PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD
  SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS
  VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA
  XXX YER ZAR ZMW ZWG ZWL
  `
    .trim()
    .split(/\s+/),
);

/** Whether `value` is an ISO-4217 alphabetic code, exactly as listed (upper case, no spaces). */
export function isCurrency(value: string): boolean {
  return ISO_4217.has(value);
}

/** Validates an ISO-4217 alphabetic code in upper case, for example "USD". */
export function parseCurrency(value: unknown, field = "amount.currency"): string {
  if (typeof value !== "string" || !isCurrency(value)) {
    throw new InvalidRequest(field, "must be an ISO-4217 code of three upper-case letters");
  }
  return value;
}

/**
 * Currencies whose minor unit is not 1/100 (the services' table, behalf._money._EXPONENTS);
 * every other currency has two decimals.
 */
const EXPONENTS: Readonly<Record<string, number>> = Object.fromEntries([
  ..."BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
    .split(" ")
    .map((code) => [code, 0] as const),
  ..."BHD IQD JOD KWD LYD OMR TND".split(" ").map((code) => [code, 3] as const),
  ..."CLF UYW".split(" ").map((code) => [code, 4] as const),
]);

/** How many decimals the currency's minor unit has (JPY 0, USD 2, KWD 3). */
export function minorUnitExponent(currency: string): number {
  return EXPONENTS[currency] ?? 2;
}

const MAJOR = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

/**
 * An amount in major units (`799.99` or `"799.99"` USD) as exact integer minor units. A number
 * is read through its shortest decimal spelling (`String(799.99) === "799.99"`), so what you
 * wrote is what is sent; more decimals than the currency has, a negative amount, or a number
 * too large or small for a plain decimal are an {@link InvalidRequest}.
 */
export function parseMajorUnits(value: unknown, currency: string, field = "amount"): bigint {
  let text: string;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new InvalidRequest(field, "must be a finite number");
    }
    text = String(value);
  } else if (typeof value === "string") {
    text = value.trim();
  } else {
    throw new InvalidRequest(field, "must be a number or a decimal string such as \"799.99\"");
  }
  const match = MAJOR.exec(text);
  if (match === null) {
    throw new InvalidRequest(field, "must be a non-negative plain decimal such as 799.99");
  }
  const exponent = minorUnitExponent(currency);
  const fraction = match[2] ?? "";
  if (fraction.length > exponent) {
    throw new InvalidRequest(field, `has more than ${exponent} decimals for ${currency}`);
  }
  const minor = BigInt((match[1] ?? "0") + fraction.padEnd(exponent, "0"));
  if (minor > INT64_MAX) {
    throw new InvalidRequest(field, "exceeds the int64 range in minor units");
  }
  // A double holds any decimal of up to 15 significant digits exactly (and String() gives it
  // back); beyond that the number may already differ from what the caller wrote.
  if (typeof value === "number" && minor > EXACT_NUMBER_MINOR) {
    throw new InvalidRequest(
      field,
      "has more digits than a JavaScript number holds exactly; pass a decimal string",
    );
  }
  return minor;
}

const EXACT_NUMBER_MINOR = 10n ** 15n - 1n;

/** Integer minor units as an exact major-unit decimal string (79999n USD -> "799.99"). */
export function formatMajorUnits(minor: bigint, currency: string): string {
  const exponent = minorUnitExponent(currency);
  if (exponent === 0) {
    return minor.toString();
  }
  const digits = minor.toString().padStart(exponent + 1, "0");
  return `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}
