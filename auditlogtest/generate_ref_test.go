package auditlogtest

// The generator as it was before it wrote JSON directly (maps through
// encoding/json). TestGeneratorMatchesReference holds the new one to the
// same bytes, so datasets, Examples and fixtures built on a seed stay put.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// referenceEvents builds n realistic events, deterministic for (n, seed, now,
// enterprise). Web events spread over the 30 days before now, git events
// over the last 7 days (GitHub keeps git events only that long). About 3%
// share their millisecond with an earlier event.
func referenceEvents(n int, seed int64, now time.Time, business string, businessID int64) []json.RawMessage {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xa0d17_1065))
	end := now.UnixMilli()
	const day = int64(24 * time.Hour / time.Millisecond)
	seen := map[string]bool{}
	stamps := make([]int64, 0, n)
	out := make([]json.RawMessage, 0, n)
	for i := 0; i < n; i++ {
		git := rng.IntN(100) < 15
		var action string
		var ts int64
		if git {
			action = genGitActions[rng.IntN(len(genGitActions))]
			ts = end - 1 - rng.Int64N(7*day)
		} else {
			action = genWebActions[rng.IntN(len(genWebActions))]
			ts = end - 1 - rng.Int64N(30*day)
		}
		if len(stamps) > 0 && rng.IntN(100) < 3 {
			ts = stamps[rng.IntN(len(stamps))]
		}
		stamps = append(stamps, ts)
		var id string
		for {
			var b [16]byte
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			id = base64.RawURLEncoding.EncodeToString(b[:])[:22]
			if !seen[id] {
				seen[id] = true
				break
			}
		}
		actor := genActors[rng.IntN(len(genActors))]
		country := genCountries[actor.country]
		oi := rng.IntN(len(genOrgs))
		org, orgID := genOrgs[oi], genOrgIDs[oi]
		repoName := org + "/" + genRepos[rng.IntN(len(genRepos))]

		ev := map[string]any{
			"@timestamp":     ts,
			"created_at":     ts + 1 + rng.Int64N(40),
			"_document_id":   id,
			"action":         action,
			"actor":          actor.login,
			"actor_id":       actor.id,
			"actor_is_bot":   actor.bot,
			"actor_location": map[string]any{"country_code": country[0], "country_name": country[1]},
			"business":       business,
			"business_id":    businessID,
			"operation_type": operationType(action),
			"request_id":     fmt.Sprintf("%04X:%04X:%06X:%07X:%08X", rng.IntN(1<<16), rng.IntN(1<<16), rng.IntN(1<<24), rng.IntN(1<<28), rng.Uint32()),
			"user_agent":     genAgents[rng.IntN(len(genAgents))],
		}
		if rng.IntN(100) < 5 || (action == "oauth_authorization.create" && rng.IntN(100) < 40) {
			oj := (oi + 1 + rng.IntN(len(genOrgs)-1)) % len(genOrgs)
			ev["org"] = []string{org, genOrgs[oj]}
			ev["org_id"] = []int64{orgID, genOrgIDs[oj]}
		} else {
			ev["org"] = org
			ev["org_id"] = orgID
		}
		withRepo := git || action == "repo.create" || action == "repo.destroy" || action == "repo.access" ||
			action == "hook.create" || action == "protected_branch.update" || action == "workflows.completed_workflow_run"
		if withRepo {
			repoID := 700000000 + rng.Int64N(1000000)
			if rng.IntN(100) < 3 {
				other := org + "/" + genRepos[rng.IntN(len(genRepos))]
				ev["repo"] = []string{repoName, other}
			} else {
				ev["repo"] = repoName
			}
			ev["repository"] = repoName
			ev["repo_id"] = repoID
			ev["repository_id"] = repoID
			public := rng.IntN(4) == 0
			ev["repository_public"] = public
			if public {
				ev["visibility"] = "public"
			} else if rng.IntN(2) == 0 {
				ev["visibility"] = "private"
			} else {
				ev["visibility"] = "internal"
			}
		}
		// Token-use fields on about half the events.
		if rng.IntN(2) == 0 {
			tokID := 1_000_000 + rng.Int64N(9_000_000)
			sum := sha256.Sum256([]byte(fmt.Sprintf("token-%d", tokID)))
			ev["hashed_token"] = base64.StdEncoding.EncodeToString(sum[:])
			ev["token_id"] = tokID
			if rng.IntN(2) == 0 {
				ev["programmatic_access_type"] = "Fine-grained personal access token"
			} else {
				ev["programmatic_access_type"] = "Classic personal access token"
				ev["token_scopes"] = "admin:enterprise,read:audit_log,repo,workflow"
			}
		}
		if rng.IntN(10) == 0 {
			ev["external_identity_nameid"] = actor.login + "@avocado.example"
			ev["external_identity_username"] = actor.login
		}
		if rng.IntN(3) == 0 {
			ev["actor_ip"] = fmt.Sprintf("203.0.113.%d", rng.IntN(255))
		}
		refAddActionFields(rng, ev, action, actor, org)
		out = append(out, json.RawMessage(marshal(ev)))
	}
	return out
}

func refAddActionFields(rng *rand.Rand, ev map[string]any, action string, actor genActor, org string) {
	target := genActors[rng.IntN(len(genActors))]
	switch action {
	case "git.clone", "git.push", "git.fetch":
		if rng.IntN(2) == 0 {
			ev["transport_protocol"] = 1
			ev["transport_protocol_name"] = "http"
		} else {
			ev["transport_protocol"] = 2
			ev["transport_protocol_name"] = "ssh"
		}
	case "team.add_member":
		ev["team"] = org + "/platform-" + []string{"core", "sre", "security"}[rng.IntN(3)]
		ev["user"], ev["user_id"] = target.login, target.id
	case "org.add_member", "org.update_member":
		ev["user"], ev["user_id"] = target.login, target.id
		ev["permission"] = []string{"read", "admin", "direct_member"}[rng.IntN(3)]
	case "org.update_member_repository_creation_permission":
		ev["permission"] = rng.IntN(2) == 0 // a bool here, unlike other actions
		ev["visibility"] = "private"
	case "hook.create":
		ev["hook_id"] = 400000000 + rng.Int64N(1000000)
		ev["name"] = "webhook"
		ev["active"] = true
		ev["config"] = map[string]any{"url": "https://hooks.example.com/github?team=sre&env=\"prod\"", "content_type": "json", "insecure_ssl": "0"}
		ev["config_was"] = map[string]any{}
		ev["events"] = []string{"push", "pull_request", "release"}
		ev["events_were"] = []string{}
		ev["content_type"] = "json"
	case "business.set_actions_retention_limit":
		ev["data"] = map[string]any{"retention_limit": []int{30, 90, 400}[rng.IntN(3)], "retention_limit_was": 90}
	case "protected_branch.update":
		ev["name"] = "main"
		ev["data"] = map[string]any{
			"required_status_checks": map[string]any{"strict": true, "contexts": []string{"ci/build", "ci/test"}},
			"enforcement_level":      "everyone",
		}
	case "personal_access_token.request_created":
		ev["user"], ev["user_id"] = actor.login, actor.id
		ev["data"] = map[string]any{
			"permissions": map[string]any{"repository": map[string]any{"contents": "read", "metadata": "read"}},
			"expires_at":  "2025-12-31T23:59:59Z",
			"reason":      "CI <deploy> & \"release\" automation",
		}
	case "audit_log_streaming.create":
		ev["data"] = map[string]any{"stream_type": []string{"Splunk", "Datadog", "Amazon S3"}[rng.IntN(3)], "enabled": true}
	case "workflows.completed_workflow_run":
		ev["data"] = map[string]any{
			"workflow": map[string]any{"name": "CI", "path": ".github/workflows/ci.yml"},
			"run": map[string]any{
				"id": 9000000000 + rng.Int64N(1000000000), "run_attempt": 1 + rng.IntN(3),
				"conclusion": []string{"success", "failure", "cancelled"}[rng.IntN(3)],
				"trigger":    map[string]any{"event": "push", "head_branch": "main"},
			},
		}
	case "oauth_authorization.create":
		ev["oauth_application_id"] = 100000 + rng.Int64N(900000)
		ev["user"], ev["user_id"] = actor.login, actor.id
	case "repo.create", "repo.destroy", "repo.access":
		if action == "repo.destroy" {
			ev["previous_visibility"] = ev["visibility"]
		}
	}
}
