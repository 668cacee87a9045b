package auditlog_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
)

// The same methods read an enterprise's audit log and an organization's:
// the organization's holds the events that name it (some name two
// organizations, and are in both logs).
func ExampleScope() {
	srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(1000, 1), auditlogtest.WithClock(fixedNow))
	defer srv.Close()
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()))
	if err != nil {
		log.Fatal(err)
	}
	q := &auditlog.Query{Include: auditlog.IncludeAll, PerPage: 100}
	for _, scope := range []auditlog.Scope{
		auditlog.Enterprise(srv.Enterprise()),
		auditlog.Organization("avocado-org"),
		auditlog.OrganizationID(62012), // the same organization, by ID
		auditlog.Organization("guacamole-inc"),
	} {
		n := 0
		for _, err := range c.Events(context.Background(), scope, q) {
			if err != nil {
				log.Fatal(err)
			}
			n++
		}
		fmt.Printf("%T(%v): %d events\n", scope, scope, n)
	}
	// Output:
	// auditlog.Enterprise(avocado-corp): 1000 events
	// auditlog.Organization(avocado-org): 275 events
	// auditlog.OrganizationID(62012): 275 events
	// auditlog.Organization(guacamole-inc): 269 events
}

// A position belongs to the scope it was read on, and a login GitHub could
// not have is refused: both before anything is sent.
func ExampleOrganization() {
	srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(1000, 1), auditlogtest.WithClock(fixedNow))
	defer srv.Close()
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	q := &auditlog.Query{PerPage: 100}
	page, err := c.AuditLog(ctx, auditlog.Organization("avocado-org"), q)
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.AuditLog(ctx, auditlog.Enterprise("avocado-corp"), q.At(page.Next))
	fmt.Println(err)
	_, err = c.AuditLog(ctx, auditlog.Organization("avocado_org"), q)
	fmt.Println(err)
	// Output:
	// auditlog: invalid Cursor: belongs to the audit log of organization "avocado-org", not of enterprise "avocado-corp"; resume it on the scope it came from
	// auditlog: invalid organization: "avocado_org" may hold only letters, digits and single hyphens (a login; an ID is an OrganizationID)
}
