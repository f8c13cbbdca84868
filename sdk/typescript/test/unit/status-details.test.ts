import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { BinaryWriter } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";

import { errorFromStatus } from "../../src/client";
import { InvalidRequest } from "../../src/errors";

/** A serialized google.rpc.Status holding one BadRequest with one field violation. */
function statusWithBadRequest(field: string, description: string): Buffer {
  const violation = new BinaryWriter().uint32(10).string(field).uint32(18).string(description);
  const badRequest = new BinaryWriter().uint32(10).bytes(violation.finish());
  const any = new BinaryWriter()
    .uint32(10)
    .string("type.googleapis.com/google.rpc.BadRequest")
    .uint32(18)
    .bytes(badRequest.finish());
  const status = new BinaryWriter()
    .uint32(8)
    .int32(grpc.status.INVALID_ARGUMENT)
    .uint32(18)
    .string(`${field}: ${description}`)
    .uint32(26)
    .bytes(any.finish());
  return Buffer.from(status.finish());
}

function invalidArgument(details: string, metadata: grpc.Metadata): grpc.ServiceError {
  return Object.assign(new Error(`3 INVALID_ARGUMENT: ${details}`), {
    code: grpc.status.INVALID_ARGUMENT,
    details,
    metadata,
  });
}

describe("INVALID_ARGUMENT field", () => {
  it("comes from the BadRequest details even when the message text names another field", () => {
    const metadata = new grpc.Metadata();
    metadata.set("grpc-status-details-bin", statusWithBadRequest("resource", "is not a host"));
    const error = errorFromStatus(invalidArgument("agent_id: resource is not a host", metadata));
    assert.ok(error instanceof InvalidRequest);
    assert.equal(error.field, "resource");
    assert.equal(error.grpcCode, "INVALID_ARGUMENT");
  });

  it("falls back to the message text when the status carries no details", () => {
    const error = errorFromStatus(invalidArgument("action: is required", new grpc.Metadata()));
    assert.ok(error instanceof InvalidRequest);
    assert.equal(error.field, "action");
  });

  it("ignores a malformed details trailer", () => {
    const metadata = new grpc.Metadata();
    metadata.set("grpc-status-details-bin", Buffer.from([0xff, 0xff, 0xff]));
    const error = errorFromStatus(invalidArgument("amount.currency: unknown", metadata));
    assert.ok(error instanceof InvalidRequest);
    assert.equal(error.field, "amount.currency");
  });
});
