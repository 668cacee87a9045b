package auditlogtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
)

// A user's test fetches one page of the audit log with plain net/http.
func Example() {
	srv := auditlogtest.NewServer(
		auditlogtest.WithEvents(
			json.RawMessage(`{"@timestamp":1717660800000,"_document_id":"doc-1","action":"repo.create","actor":"octocat"}`),
			json.RawMessage(`{"@timestamp":1717664400000,"_document_id":"doc-2","action":"team.add_member","actor":"hubot"}`),
			json.RawMessage(`{"@timestamp":1717668000000,"_document_id":"doc-3","action":"repo.destroy","actor":"octocat"}`),
		),
		auditlogtest.WithClock(func() time.Time { return time.Date(2024, 6, 6, 12, 0, 0, 0, time.UTC) }),
	)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/enterprises/"+srv.Enterprise()+"/audit-log?phrase=action:repo&per_page=1", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var events []struct {
		ID     string `json:"_document_id"`
		Action string `json:"action"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&events); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"))
	for _, e := range events {
		fmt.Println(e.ID, e.Action)
	}
	fmt.Println("has next page:", strings.Contains(resp.Header.Get("Link"), `rel="next"`))
	// Output:
	// 200 1749
	// doc-3 repo.destroy
	// has next page: true
}
