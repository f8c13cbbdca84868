/** The generated behalf.v1 contract (ts-proto, `forceLong=string`), one namespace per file. */
export * as common from "./gen/behalf/v1/common";
export * as dispatcher from "./gen/behalf/v1/dispatcher";
export * as events from "./gen/behalf/v1/events";
export * as registry from "./gen/behalf/v1/registry";
export * as resources from "./gen/behalf/v1/resources";
export * as verifier from "./gen/behalf/v1/verifier";
