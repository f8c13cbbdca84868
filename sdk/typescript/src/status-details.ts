import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type * as grpc from "@grpc/grpc-js";

/** The trailer in which a gRPC server sends a serialized `google.rpc.Status` with details. */
const STATUS_DETAILS_KEY = "grpc-status-details-bin";
const BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest";

/** One `google.rpc.BadRequest.FieldViolation`: the request field at fault, and what is wrong. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** The length-delimited values of field `fieldNo` of a protobuf message, in wire order. */
function lengthDelimited(message: Uint8Array, fieldNo: number): Uint8Array[] {
  const reader = new BinaryReader(message);
  const values: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    if (no === fieldNo && wireType === WireType.LengthDelimited) {
      values.push(reader.bytes());
    } else {
      reader.skip(wireType, no);
    }
  }
  return values;
}

function text(message: Uint8Array, fieldNo: number): string {
  const values = lengthDelimited(message, fieldNo);
  const last = values[values.length - 1];
  return last === undefined ? "" : new TextDecoder().decode(last);
}

/**
 * The first field violation of the `google.rpc.BadRequest` in a failed call's status details
 * (`Status.details` = 3; `Any.type_url` = 1, `Any.value` = 2; `BadRequest.field_violations` = 1;
 * `FieldViolation.field` = 1, `.description` = 2), or `undefined` when it carries none.
 */
export function fieldViolation(metadata: grpc.Metadata | undefined): FieldViolation | undefined {
  for (const value of metadata?.get(STATUS_DETAILS_KEY) ?? []) {
    if (typeof value === "string") {
      continue;
    }
    try {
      for (const detail of lengthDelimited(value, 3)) {
        if (text(detail, 1) !== BAD_REQUEST_TYPE) {
          continue;
        }
        for (const badRequest of lengthDelimited(detail, 2)) {
          const violation = lengthDelimited(badRequest, 1)[0];
          if (violation !== undefined) {
            return { field: text(violation, 1), description: text(violation, 2) };
          }
        }
      }
    } catch {
      return undefined; // a malformed trailer names no field
    }
  }
  return undefined;
}
