package auditlogtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// A Generator describes a realistic, deterministic audit log: the same
// Generator gives the same events byte for byte. The zero value of each
// field is documented; [NewGenerator] fills in the shares the default
// dataset uses. Pass it to [WithGenerator], or build the events yourself
// with [Generator.Events] or [Generator.Dataset].
//
// The events carry the quirks GitHub is observed to send: org and org_id
// (and now and then repo) as arrays, permission as a bool on one action,
// config as an object and events as an array of strings, nested data
// objects, token and location fields the OpenAPI description does not list,
// user agents with quotes, angle brackets and non-ASCII text, and about 3%
// of events sharing their millisecond with another.
type Generator struct {
	// N is the number of events.
	N int
	// Seed selects the dataset.
	Seed int64
	// Since and Until bound @timestamp: Since <= t < Until. Zero Until is
	// the server clock's time at NewServer ([time.Now] outside a server);
	// zero Since is 30 days before Until. Git events fall in the last 7
	// days of the range only, as GitHub keeps them no longer.
	Since, Until time.Time
	// Actions are the web actions to draw from; nil means a built-in list
	// of 14 (repo.create, team.add_member, oauth_authorization.create,
	// hook.create, workflows.completed_workflow_run, ...). The known ones
	// get their usual fields (user, team, permission, data, config, ...).
	Actions []string
	// Actors are the actor logins to draw from; nil means a built-in list
	// of 12, three of them bots.
	Actors []string
	// GitPercent is the share of git events (git.clone, git.fetch,
	// git.push), 0 to 100.
	GitPercent int
	// OrgArrayPercent is the share of events whose org and org_id are
	// arrays of two, 0 to 100; oauth_authorization.create events get them
	// more often, as on GitHub. 0 means none.
	OrgArrayPercent int
	// Enterprise and EnterpriseID fill business and business_id; empty
	// means the server's enterprise ([DefaultEnterprise] outside a server).
	Enterprise   string
	EnterpriseID int64
}

// NewGenerator returns the generator behind [WithGeneratedEvents]: n events
// from seed over the 30 days before the server's clock, 15% git events, 5%
// with org arrays.
func NewGenerator(n int, seed int64) Generator {
	return Generator{N: n, Seed: seed, GitPercent: 15, OrgArrayPercent: 5}
}

func (g Generator) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("auditlogtest: Generator."+format, args...)
	}
	switch {
	case g.N < 0:
		return bad("N is negative (%d)", g.N)
	case g.GitPercent < 0 || g.GitPercent > 100:
		return bad("GitPercent %d is not between 0 and 100", g.GitPercent)
	case g.OrgArrayPercent < 0 || g.OrgArrayPercent > 100:
		return bad("OrgArrayPercent %d is not between 0 and 100", g.OrgArrayPercent)
	case !g.Since.IsZero() && !g.Until.IsZero() && g.Until.Sub(g.Since) < time.Millisecond:
		return bad("Since (%s) is not at least 1ms before Until (%s)", g.Since.Format(time.RFC3339Nano), g.Until.Format(time.RFC3339Nano))
	case !g.Since.IsZero() && g.Since.UnixMilli() < minMillis:
		return bad("Since %s is before 1973", g.Since.Format(time.RFC3339))
	case slices.Contains(g.Actions, ""):
		return bad("Actions has an empty action")
	case slices.Contains(g.Actors, ""):
		return bad("Actors has an empty login")
	}
	return nil
}

// resolve fills the zero fields that depend on the server: the range's
// end and the enterprise.
func (g Generator) resolve(now func() time.Time, enterprise string, id int64) Generator {
	if g.Until.IsZero() {
		g.Until = now()
	}
	if g.Since.IsZero() {
		g.Since = g.Until.Add(-30 * 24 * time.Hour)
	}
	if g.Enterprise == "" {
		g.Enterprise, g.EnterpriseID = enterprise, id
	}
	return g
}

// key identifies a resolved generator's output, for sharing datasets.
func (g Generator) key() string {
	return fmt.Sprintf("%d|%d|%d|%d|%q|%q|%d|%d|%q|%d", g.N, g.Seed, g.Since.UnixMilli(), g.Until.UnixMilli(),
		g.Actions, g.Actors, g.GitPercent, g.OrgArrayPercent, g.Enterprise, g.EnterpriseID)
}

// Events returns the generated events in the order they were drawn (not
// sorted), each in its own slice.
func (g Generator) Events() ([]json.RawMessage, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	g = g.resolve(time.Now, DefaultEnterprise, DefaultEnterpriseID)
	out := make([]json.RawMessage, 0, g.N)
	g.each(func(_ genRecord, raw []byte) {
		out = append(out, json.RawMessage(slices.Clone(raw)))
	})
	return out, nil
}

// Dataset returns the generated events as a [Dataset], built without
// parsing them back.
func (g Generator) Dataset() (*Dataset, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	return g.resolve(time.Now, DefaultEnterprise, DefaultEnterpriseID).dataset()
}

// dataset builds a resolved generator's dataset: every event's JSON goes
// into one string, and the events point into it.
func (g Generator) dataset() (*Dataset, error) {
	var text, ids strings.Builder
	text.Grow(g.N * 780)
	ids.Grow(g.N * 22)
	slab := make([]event, g.N)
	ends := make([]int, g.N)
	i := 0
	g.each(func(r genRecord, raw []byte) {
		text.Write(raw)
		ids.WriteString(r.id)
		ends[i] = text.Len()
		slab[i] = event{ts: r.ts, action: r.action, actor: r.actor, git: r.git, orgs: r.orgs}
		i++
	})
	all, allIDs := text.String(), ids.String()
	evs := make([]*event, g.N)
	start, idStart := 0, 0
	for i := range slab {
		slab[i].raw = all[start:ends[i]]
		slab[i].id = allIDs[idStart : idStart+22]
		start, idStart = ends[i], idStart+22
		evs[i] = &slab[i]
	}
	return buildDataset(evs)
}

// pairs returns, at i*len(xs)+j, the list of xs[i] and xs[j] (xs[i] alone
// when i == j).
func pairs[T any](xs []T) [][]T {
	out := make([][]T, len(xs)*len(xs))
	for i, a := range xs {
		for j, b := range xs {
			if i == j {
				out[i*len(xs)+j] = []T{a}
			} else {
				out[i*len(xs)+j] = []T{a, b}
			}
		}
	}
	return out
}

type genActor struct {
	login   string
	id      int64
	bot     bool
	country int
}

var (
	genActors = []genActor{
		{"octocat", 583231, false, 0}, {"monalisa", 2154, false, 1}, {"hubot", 480938, false, 0},
		{"avocado-admin", 9919, false, 2}, {"guac-bot[bot]", 41898282, true, 0}, {"pit-lead", 77311, false, 3},
		{"dependabot[bot]", 49699333, true, 0}, {"sre-oncall", 1200412, false, 4}, {"Zoë-Łukasz", 3310045, false, 5},
		{"renovate[bot]", 29139614, true, 1}, {"sec-auditor", 6602117, false, 6}, {"build-svc", 8800123, false, 2},
	}
	genCountries = [][2]string{
		{"US", "United States"}, {"DE", "Germany"}, {"JP", "Japan"}, {"BR", "Brazil"}, {"IN", "India"},
		{"GB", "United Kingdom of Great Britain and Northern Ireland"}, {"FR", "France"},
	}
	genOrgs   = []string{"avocado-org", "guacamole-inc", "pit-labs", "octo-demo"}
	genOrgIDs = []int64{62012, 71733, 80233, 90451}
	// genOrgLists[i*len(genOrgs)+j] is the org list of an event in orgs i
	// and j (one org when i == j), shared by every such event.
	genOrgLists = func() []*orgList {
		logins, ids := pairs(genOrgs), pairs(genOrgIDs)
		out := make([]*orgList, len(logins))
		for i := range logins {
			out[i] = &orgList{logins: logins[i], ids: ids[i]}
		}
		return out
	}()
	genRepos  = []string{"api", "web", "infra", "docs", "sdk-go", "ml-models", "secrets-scanner", ".github"}
	genAgents = []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"curl/8.5.0",
		"GitHub-Hookshot/2f7e3a1",
		`octokit-rest.js/20.1.1 "custom" <probe> & friends`,
		"Go-http-client/1.1",
		"git/2.45.2 (Apple Git-154) — Zoë's laptop ✓",
		"terraform-provider-github/6.2.1 (+https://www.terraform.io)",
	}
	genWebActions = []string{
		"repo.create", "repo.destroy", "repo.access", "team.add_member", "org.add_member", "org.update_member",
		"oauth_authorization.create", "business.set_actions_retention_limit", "hook.create", "protected_branch.update",
		"personal_access_token.request_created", "org.update_member_repository_creation_permission",
		"audit_log_streaming.create", "workflows.completed_workflow_run",
	}
	genGitActions = []string{"git.clone", "git.push", "git.fetch"}
)

// Nested values that do not depend on the draws, rendered once by
// encoding/json so that they are exactly what a map would marshal to.
var (
	genLocations  = make([]string, len(genCountries))
	genAgentsJSON = make([]string, len(genAgents))
	genTeams      = []string{"core", "sre", "security"}
	genPerms      = []string{"read", "admin", "direct_member"}
	genRetention  = []int{30, 90, 400}
	genStreamData = make([]string, 3)
	genOutcomes   = []string{"success", "failure", "cancelled"}

	genHookConfig = string(marshal(map[string]any{"url": "https://hooks.example.com/github?team=sre&env=\"prod\"", "content_type": "json", "insecure_ssl": "0"}))
	genHookEvents = string(marshal([]string{"push", "pull_request", "release"}))
	genBranchData = string(marshal(map[string]any{
		"required_status_checks": map[string]any{"strict": true, "contexts": []string{"ci/build", "ci/test"}},
		"enforcement_level":      "everyone",
	}))
	genTokenData = string(marshal(map[string]any{
		"permissions": map[string]any{"repository": map[string]any{"contents": "read", "metadata": "read"}},
		"expires_at":  "2025-12-31T23:59:59Z",
		"reason":      "CI <deploy> & \"release\" automation",
	}))
)

func init() {
	for i, c := range genCountries {
		genLocations[i] = string(marshal(map[string]any{"country_code": c[0], "country_name": c[1]}))
	}
	for i, a := range genAgents {
		genAgentsJSON[i] = jsonString(a)
	}
	for i, t := range []string{"Splunk", "Datadog", "Amazon S3"} {
		genStreamData[i] = string(marshal(map[string]any{"stream_type": t, "enabled": true}))
	}
}

// jsonString renders s as encoding/json does without HTML escaping.
func jsonString(s string) string {
	simple := utf8.ValidString(s) && !strings.ContainsAny(s, "\"\\\u2028\u2029")
	for i := 0; simple && i < len(s); i++ {
		simple = s[i] >= 0x20
	}
	if simple {
		return `"` + s + `"`
	}
	return string(marshal(s))
}

func operationType(action string) string {
	switch action {
	case "repo.create", "hook.create", "oauth_authorization.create", "audit_log_streaming.create",
		"personal_access_token.request_created":
		return "create"
	case "repo.destroy":
		return "remove"
	case "repo.access", "git.clone", "git.fetch":
		return "access"
	}
	return "modify"
}

// genRecord is what the dataset needs of a generated event besides its JSON.
type genRecord struct {
	ts            int64
	id            string // valid until the next event
	action, actor string
	git           bool
	orgs          *orgList // shared, never modified
}

// objWriter renders one flat JSON object with its members sorted by key,
// as encoding/json renders a map, without building the map.
type objWriter struct {
	vals   []byte
	fields []objField
	out    []byte
}

type objField struct {
	key    string
	lo, hi int
}

func (w *objWriter) reset() { w.vals, w.fields, w.out = w.vals[:0], w.fields[:0], w.out[:0] }

func (w *objWriter) add(key string, lo int) {
	w.fields = append(w.fields, objField{key, lo, len(w.vals)})
}

// raw adds a member whose value is already JSON.
func (w *objWriter) raw(key, v string) {
	lo := len(w.vals)
	w.vals = append(w.vals, v...)
	w.add(key, lo)
}

func (w *objWriter) rawBytes(key string, v []byte) {
	lo := len(w.vals)
	w.vals = append(w.vals, v...)
	w.add(key, lo)
}

// str adds a string that needs no escaping.
func (w *objWriter) str(key, v string) {
	lo := len(w.vals)
	w.vals = append(append(append(w.vals, '"'), v...), '"')
	w.add(key, lo)
}

func (w *objWriter) int(key string, v int64) {
	lo := len(w.vals)
	w.vals = strconv.AppendInt(w.vals, v, 10)
	w.add(key, lo)
}

func (w *objWriter) bool(key string, v bool) {
	lo := len(w.vals)
	w.vals = strconv.AppendBool(w.vals, v)
	w.add(key, lo)
}

func (w *objWriter) bytes() []byte {
	f := w.fields
	for i := 1; i < len(f); i++ { // insertion sort: about 25 members
		for j := i; j > 0 && f[j].key < f[j-1].key; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
	w.out = append(w.out, '{')
	for i, m := range f {
		if i > 0 {
			w.out = append(w.out, ',')
		}
		w.out = append(append(append(w.out, '"'), m.key...), '"', ':')
		w.out = append(w.out, w.vals[m.lo:m.hi]...)
	}
	return append(w.out, '}')
}

// appendHex appends v in upper-case hex, zero-padded to width digits.
func appendHex(b []byte, v uint64, width int) []byte {
	var tmp [16]byte
	s := strconv.AppendUint(tmp[:0], v, 16)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	for _, c := range s {
		if c >= 'a' {
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

type genActorJSON struct {
	genActor
	loginJSON string
}

// actors returns the actor list, with each login rendered as JSON once.
func (g Generator) actors() []genActorJSON {
	var out []genActorJSON
	if g.Actors == nil {
		for _, a := range genActors {
			out = append(out, genActorJSON{a, jsonString(a.login)})
		}
		return out
	}
	for i, login := range g.Actors {
		h := fnv.New32a()
		h.Write([]byte(login))
		a := genActor{login: login, id: 1_000_000 + int64(h.Sum32()%9_000_000),
			bot: strings.HasSuffix(login, "[bot]"), country: i % len(genCountries)}
		out = append(out, genActorJSON{a, jsonString(login)})
	}
	return out
}

const day = int64(24 * time.Hour / time.Millisecond)

// each generates a resolved generator's events in order, calling emit with
// each one's JSON (valid until the next call). The draws are those of the
// original map-based generator (generate_ref_test.go), in the same order,
// so a seed gives the same bytes as it always did.
func (g Generator) each(emit func(genRecord, []byte)) {
	rng := rand.New(rand.NewPCG(uint64(g.Seed), 0xa0d17_1065))
	end := g.Until.UnixMilli()
	webSpan := end - g.Since.UnixMilli()
	gitSpan := min(webSpan, 7*day)
	actors := g.actors()
	web := g.Actions
	if web == nil {
		web = genWebActions
	}
	webJSON := make([]string, len(web))
	for i, a := range web {
		webJSON[i] = jsonString(a)
	}
	business := jsonString(g.Enterprise)

	var w objWriter
	var scratch []byte
	stamps := make([]int64, 0, g.N)
	for range g.N {
		w.reset()
		git := rng.IntN(100) < g.GitPercent
		var action, actionJSON string
		var ts int64
		if git {
			k := rng.IntN(len(genGitActions))
			action = genGitActions[k]
			actionJSON = `"` + action + `"`
			ts = end - 1 - rng.Int64N(gitSpan)
		} else {
			k := rng.IntN(len(web))
			action, actionJSON = web[k], webJSON[k]
			ts = end - 1 - rng.Int64N(webSpan)
		}
		if len(stamps) > 0 && rng.IntN(100) < 3 {
			ts = stamps[rng.IntN(len(stamps))]
		}
		stamps = append(stamps, ts)
		var b [16]byte
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		var idb [22]byte
		base64.RawURLEncoding.Encode(idb[:], b[:])
		id := string(idb[:])
		actor := actors[rng.IntN(len(actors))]
		oi := rng.IntN(len(genOrgs))
		org, orgID := genOrgs[oi], genOrgIDs[oi]
		repoName := org + "/" + genRepos[rng.IntN(len(genRepos))]

		w.int("@timestamp", ts)
		w.int("created_at", ts+1+rng.Int64N(40))
		w.str("_document_id", id)
		w.raw("action", actionJSON)
		w.raw("actor", actor.loginJSON)
		w.int("actor_id", actor.id)
		w.bool("actor_is_bot", actor.bot)
		w.raw("actor_location", genLocations[actor.country])
		w.raw("business", business)
		w.int("business_id", g.EnterpriseID)
		w.str("operation_type", operationType(action))
		scratch = append(scratch[:0], '"')
		scratch = appendHex(scratch, uint64(rng.IntN(1<<16)), 4)
		scratch = appendHex(append(scratch, ':'), uint64(rng.IntN(1<<16)), 4)
		scratch = appendHex(append(scratch, ':'), uint64(rng.IntN(1<<24)), 6)
		scratch = appendHex(append(scratch, ':'), uint64(rng.IntN(1<<28)), 7)
		scratch = appendHex(append(scratch, ':'), uint64(rng.Uint32()), 8)
		w.rawBytes("request_id", append(scratch, '"'))
		w.raw("user_agent", genAgentsJSON[rng.IntN(len(genAgents))])

		orgs := genOrgLists[oi*len(genOrgs)+oi]
		if g.OrgArrayPercent > 0 && (rng.IntN(100) < g.OrgArrayPercent || (action == "oauth_authorization.create" && rng.IntN(100) < 40)) {
			oj := (oi + 1 + rng.IntN(len(genOrgs)-1)) % len(genOrgs)
			w.raw("org", `["`+org+`","`+genOrgs[oj]+`"]`)
			w.raw("org_id", "["+strconv.FormatInt(orgID, 10)+","+strconv.FormatInt(genOrgIDs[oj], 10)+"]")
			orgs = genOrgLists[oi*len(genOrgs)+oj]
		} else {
			w.str("org", org)
			w.int("org_id", orgID)
		}
		withRepo := git || action == "repo.create" || action == "repo.destroy" || action == "repo.access" ||
			action == "hook.create" || action == "protected_branch.update" || action == "workflows.completed_workflow_run"
		visibility := ""
		if withRepo {
			repoID := 700000000 + rng.Int64N(1000000)
			if rng.IntN(100) < 3 {
				w.raw("repo", `["`+repoName+`","`+org+"/"+genRepos[rng.IntN(len(genRepos))]+`"]`)
			} else {
				w.str("repo", repoName)
			}
			w.str("repository", repoName)
			w.int("repo_id", repoID)
			w.int("repository_id", repoID)
			public := rng.IntN(4) == 0
			w.bool("repository_public", public)
			switch {
			case public:
				visibility = "public"
			case rng.IntN(2) == 0:
				visibility = "private"
			default:
				visibility = "internal"
			}
			w.str("visibility", visibility)
		}
		// Token-use fields on about half the events.
		if rng.IntN(2) == 0 {
			tokID := 1_000_000 + rng.Int64N(9_000_000)
			sum := sha256.Sum256(strconv.AppendInt(append(scratch[:0], "token-"...), tokID, 10))
			var h [46]byte
			h[0], h[45] = '"', '"'
			base64.StdEncoding.Encode(h[1:45], sum[:])
			w.rawBytes("hashed_token", h[:])
			w.int("token_id", tokID)
			if rng.IntN(2) == 0 {
				w.str("programmatic_access_type", "Fine-grained personal access token")
			} else {
				w.str("programmatic_access_type", "Classic personal access token")
				w.str("token_scopes", "admin:enterprise,read:audit_log,repo,workflow")
			}
		}
		if rng.IntN(10) == 0 {
			w.raw("external_identity_nameid", jsonString(actor.login+"@avocado.example"))
			w.raw("external_identity_username", actor.loginJSON)
		}
		if rng.IntN(3) == 0 {
			w.str("actor_ip", "203.0.113."+strconv.Itoa(rng.IntN(255)))
		}
		addActionFields(rng, &w, action, actor, actors, org, visibility)
		emit(genRecord{ts: ts, id: id, action: action, actor: actor.login, git: strings.HasPrefix(action, "git."), orgs: orgs}, w.bytes())
	}
}

func addActionFields(rng *rand.Rand, w *objWriter, action string, actor genActorJSON, actors []genActorJSON, org, visibility string) {
	target := actors[rng.IntN(len(actors))]
	switch action {
	case "git.clone", "git.push", "git.fetch":
		if rng.IntN(2) == 0 {
			w.int("transport_protocol", 1)
			w.str("transport_protocol_name", "http")
		} else {
			w.int("transport_protocol", 2)
			w.str("transport_protocol_name", "ssh")
		}
	case "team.add_member":
		w.raw("team", jsonString(org+"/platform-"+genTeams[rng.IntN(3)]))
		w.raw("user", target.loginJSON)
		w.int("user_id", target.id)
	case "org.add_member", "org.update_member":
		w.raw("user", target.loginJSON)
		w.int("user_id", target.id)
		w.str("permission", genPerms[rng.IntN(3)])
	case "org.update_member_repository_creation_permission":
		w.bool("permission", rng.IntN(2) == 0) // a bool here, unlike other actions
		w.str("visibility", "private")
	case "hook.create":
		w.int("hook_id", 400000000+rng.Int64N(1000000))
		w.str("name", "webhook")
		w.bool("active", true)
		w.raw("config", genHookConfig)
		w.raw("config_was", "{}")
		w.raw("events", genHookEvents)
		w.raw("events_were", "[]")
		w.str("content_type", "json")
	case "business.set_actions_retention_limit":
		w.raw("data", `{"retention_limit":`+strconv.Itoa(genRetention[rng.IntN(3)])+`,"retention_limit_was":90}`)
	case "protected_branch.update":
		w.str("name", "main")
		w.raw("data", genBranchData)
	case "personal_access_token.request_created":
		w.raw("user", actor.loginJSON)
		w.int("user_id", actor.id)
		w.raw("data", genTokenData)
	case "audit_log_streaming.create":
		w.raw("data", genStreamData[rng.IntN(3)])
	case "workflows.completed_workflow_run":
		id := 9000000000 + rng.Int64N(1000000000)
		attempt := 1 + rng.IntN(3)
		outcome := genOutcomes[rng.IntN(3)]
		w.raw("data", `{"run":{"conclusion":"`+outcome+`","id":`+strconv.FormatInt(id, 10)+`,"run_attempt":`+strconv.Itoa(attempt)+
			`,"trigger":{"event":"push","head_branch":"main"}},"workflow":{"name":"CI","path":".github/workflows/ci.yml"}}`)
	case "oauth_authorization.create":
		w.int("oauth_application_id", 100000+rng.Int64N(900000))
		w.raw("user", actor.loginJSON)
		w.int("user_id", actor.id)
	case "repo.create", "repo.destroy", "repo.access":
		if action == "repo.destroy" {
			w.str("previous_visibility", visibility)
		}
	}
}
