// Package prefect is a small, typed client for the Prefect 3 REST API: exactly
// the calls a non-Python worker needs to register deployments, claim flow runs,
// report their states and logs, and be woken up by the events websocket.
//
// Every wire fact here was checked against Prefect's server source (3.4) and is
// recorded, with its source path, in docs/prefect.md; comments cite its
// sections as "docs/prefect.md §4".
//
// # Request bodies
//
// Prefect's action models are pydantic extra="forbid" (docs/prefect.md §14.2): any unknown key
// is a 422. The request structs in this package therefore carry only fields the
// server accepts, all with omitempty where Prefect has a default. Responses are
// decoded leniently: unknown fields are ignored, because newer servers add them.
//
// # Result data contract (docs/prefect.md §7)
//
// Python callers do run_deployment(...).state.result(). For a COMPLETED state,
// Prefect's client returns state.data unchanged unless it looks like persisted
// result metadata. Completed(data) therefore sends data as a JSON object that
//
//   - is an object (never null: null makes result() return a MissingResult), and
//   - has none of the top-level keys "storage_key" (3.1+ treats the dict as
//     ResultRecordMetadata and tries to read storage), "type" (3.0 parsed it as a
//     BaseResult) or "artifact_key"/"artifact_type"/"artifact_description"
//     (popped by the server when it stores the result artifact).
//
// Completed refuses such keys with ErrReservedResultKey rather than letting a
// caller's result() raise. A bare scalar (the angle of get-position) is also
// returned as-is by result(), so Completed accepts any JSON value except null.
// FAILED and CRASHED states must carry data=null and the human message in
// State.Message: a dict there makes result() raise TypeError instead of
// FailedRun(message) (docs/prefect.md §7 "Failure side"); Failed and Crashed enforce that.
package prefect
