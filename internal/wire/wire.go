// Package wire holds the query values that the SDK and its fake
// (auditlogtest) both speak. The SDK re-exports them as aliases
// (auditlog.Include, auditlog.Order), so a test passes the SDK's own
// constants to the fake; they live here because the SDK's in-package tests
// import auditlogtest, which therefore cannot import the SDK.
package wire

// Include selects which events a query returns: "web", "git" or "all".
type Include string

// Order is the order of events in a listing: "desc" or "asc".
type Order string
