package auditlog_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/ghaudit/auditlog"
)

func ExampleNewClient() {
	c, err := auditlog.NewClient(
		auditlog.WithToken("ghp_exampletoken"),               // in real code: os.Getenv("GITHUB_TOKEN")
		auditlog.WithBaseURL("https://api.octocorp.ghe.com"), // GitHub Enterprise Cloud with data residency
		auditlog.WithUserAgent("acme-siem/1.2"),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.BaseURL())

	// Options check their arguments and name themselves in the error.
	_, err = auditlog.NewClient(auditlog.WithAPIVersion("2023-01-01"))
	fmt.Println(errors.Is(err, auditlog.ErrInvalidInput))
	fmt.Println(err)
	// Output:
	// https://api.octocorp.ghe.com
	// true
	// auditlog: invalid WithAPIVersion: unsupported version "2023-01-01" (supported: 2022-11-28, 2026-03-10)
}

func ExamplePhrase() {
	since := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	phrase, err := auditlog.Phrase().
		Action("repo").
		Country("United States").
		CreatedSince(since).
		Not(auditlog.Phrase().Actor("dependabot[bot]")).
		Build()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(phrase)
	// Output:
	// action:repo country:"United States" created:2024-01-01..* -actor:dependabot[bot]
}
