// Package auditlog is a client for GitHub's Enterprise audit-log REST API.
package auditlog
