// Package counterparts holds reference implementations of the outside
// services sitetwin's connectors talk to, since no real government
// platform is reachable from a test rig: a filing platform
// (FilingService) and a fund-supervision platform (FundsService). They
// behave as the real ones do: they validate, keep their own ledger
// (optionally in a file), honour idempotency keys, answer slowly and fail
// sometimes (Config: seeded error rate and latency). `sitetwin serve
// filing` and `sitetwin serve funds` run them.
//
// It is an adapter (layer 2): it imports only the standard library, and
// none of sitetwin's packages.
//
// # Common rules
//
// Bodies are JSON. Every POST needs an Idempotency-Key header: the first
// request with a key is carried out once, and every later request with that
// key gets the same status and body again (with Idempotent-Replayed: true);
// the same key with another body is refused (422, code key_reused). An
// answer of 500 or 503 was not stored: retry with the same key. Errors are
// {"error": "...", "code": "...", "field": "..."} with the codes of
// APIError.
//
// # Filing platform
//
//	POST /v1/filings          FilingRequest → 201 FilingReceipt
//	                          422 invalid (field named), 409 duplicate (with "existing": the filing it duplicates),
//	                          409 not_allowed (a start or completion filing of a project with no registration)
//	GET  /v1/filings?project= {"filings": [FilingRecord]}
//	GET  /v1/filings/{id}     FilingRecord (status, stage, reasons, history)
//	GET  /v1/changes?after=N&limit=M
//	                          ChangesPage: every status change with a sequence number > N, in order
//
// A filing request names its kind (registration, start, completion), the
// project, its name, district, address, permit number, owner, contractor,
// supervisor and sites, and its supervision and safety-measure filing
// numbers. The filing, its receipt and its status changes carry the
// Idempotency-Key it was submitted with as "reference", so that a client
// can match them to its request. A registration with the same permit number, or the same name
// and address, as one under review or approved is a duplicate (409, code
// duplicate, with the existing filing's id). Each filing goes through the
// district's preliminary review, the city's review and an expert review,
// each taking Config.StageTime, and is approved after the last, or
// returned with reasons at a stage: a start filing without a safety-measure
// filing number, or a start or completion filing without a supervision
// filing number, at the district; a share (Config.ReturnRate) of the
// others at a random stage.
//
// # Fund-supervision platform
//
//	POST /v1/disbursements       DisbursementRequest → 201 Payment (with its receipt number)
//	                             422 invalid, 409 refused (insufficient escrow balance)
//	GET  /v1/disbursements/{receipt}  Payment
//	GET  /v1/ledger?project=     {"payments": [Payment], "count": N, "total_cny": X}
package counterparts
