package auditlogtest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/ghaudit/auditlog/internal/wire"
)

// Org is an organization of the enterprise, whose own audit log the fake
// serves at GET /orgs/{login}/audit-log (and /organizations/{id}/audit-log,
// the path its Link headers name).
type Org struct {
	Login string // letters, digits and single hyphens, at most 39 characters
	ID    int64  // positive
}

// WithOrganizations declares the organizations the server serves an audit
// log for; any other is 404. Without it the server serves every
// organization its events name: each login an event's org holds (a string,
// or an array), with the ID its org_id holds at the same place, or, for a
// login named without an ID, one derived from the login. Events added
// later that name a new organization add it too. Logins must be valid
// GitHub logins and IDs positive, each used once; [NewServer] panics and
// [New] fails the test otherwise.
//
// An organization's audit log lists the events whose org names it
// (case-insensitively), with the phrase, include, order, cursors and budget
// rules of the enterprise's: an event of two organizations is in both
// logs, and the enterprise's log lists every one of them. Its budget is
// its own: GitHub counts the audit-log budget per token and entity path.
func WithOrganizations(orgs ...Org) Option {
	return func(c *config) {
		var seen orgSet
		for _, o := range orgs {
			if err := checkOrg(o); err != nil {
				c.fail(err)
				return
			}
			if _, dup := seen.byLogin[strings.ToLower(o.Login)]; dup {
				c.fail(fmt.Errorf("auditlogtest: WithOrganizations: login %q given twice", o.Login))
				return
			}
			if _, dup := seen.byID[o.ID]; dup {
				c.fail(fmt.Errorf("auditlogtest: WithOrganizations: ID %d given twice", o.ID))
				return
			}
			seen.index(o, 0)
		}
		c.orgs, c.orgsSet = append([]Org(nil), orgs...), true
	}
}

func checkOrg(o Org) error {
	l := o.Login
	ok := l != "" && len(l) <= 39 && l[0] != '-' && l[len(l)-1] != '-' && !strings.Contains(l, "--")
	for i := 0; ok && i < len(l); i++ {
		c := l[i]
		ok = c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	switch {
	case !ok:
		return fmt.Errorf("auditlogtest: WithOrganizations: %q is not a GitHub login (letters, digits, single inner hyphens, at most 39)", l)
	case o.ID < 1:
		return fmt.Errorf("auditlogtest: WithOrganizations: %q has ID %d, not a positive number", l, o.ID)
	}
	return nil
}

// orgSet indexes a list of organizations by lower-case login and by ID.
type orgSet struct {
	byLogin map[string]int
	byID    map[int64]int
}

func (k *orgSet) index(o Org, i int) {
	if k.byLogin == nil {
		k.byLogin, k.byID = map[string]int{}, map[int64]int{}
	}
	k.byLogin[strings.ToLower(o.Login)] = i
	k.byID[o.ID] = i
}

// addFrom appends to list the organizations evs name that k does not hold
// yet, in the order they first appear, and returns it. An organization's ID
// is the one an event gives it (org_id, at the same place as the login in
// org), else one derived from its login.
func (k *orgSet) addFrom(list []Org, evs ...*event) []Org {
	// Generated events share a few lists: read each list once.
	var lists []*orgList
	seen := map[*orgList]bool{}
	for _, ev := range evs {
		if ev.orgs != nil && !seen[ev.orgs] {
			seen[ev.orgs] = true
			lists = append(lists, ev.orgs)
		}
	}
	given := map[string]int64{}
	for _, ol := range lists {
		if len(ol.ids) != len(ol.logins) {
			continue
		}
		for i, login := range ol.logins {
			if l := strings.ToLower(login); given[l] == 0 {
				given[l] = ol.ids[i]
			}
		}
	}
	for _, ol := range lists {
		for _, login := range ol.logins {
			l := strings.ToLower(login)
			if _, ok := k.byLogin[l]; ok {
				continue
			}
			o := Org{Login: login, ID: given[l]}
			if _, taken := k.byID[o.ID]; o.ID < 1 || taken {
				o.ID = derivedOrgID(login)
			}
			k.index(o, len(list))
			list = append(list, o)
		}
	}
	return list
}

// derivedOrgID is the ID of an organization whose events give none: stable,
// and in a range GitHub's real IDs for such tests do not collide with.
func derivedOrgID(login string) int64 {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(login)))
	return 900_000_000 + int64(h.Sum32()%100_000_000)
}

// Organizations returns the organizations the server serves an audit log
// for (see [WithOrganizations]): those declared, or else those its events
// name, in the order they were first seen (the generated log's are
// avocado-org, guacamole-inc, pit-labs and octo-demo).
func (s *Server) Organizations() []Org {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Org(nil), s.orgs...)
}

// orgLocked finds an organization by login (any case) or, when byID, by
// decimal ID.
func (s *Server) orgLocked(name string, byID bool) (Org, bool) {
	if byID {
		id, err := strconv.ParseInt(name, 10, 64)
		if i, ok := s.orgIdx.byID[id]; err == nil && ok {
			return s.orgs[i], true
		}
		return Org{}, false
	}
	if i, ok := s.orgIdx.byLogin[strings.ToLower(name)]; ok {
		return s.orgs[i], true
	}
	return Org{}, false
}

// findOrg finds an organization for a test helper: by login, or by decimal
// ID. It reports a misuse when there is none.
func (s *Server) findOrg(fn, org string) (Org, bool) {
	s.mu.Lock()
	o, ok := s.orgLocked(org, false)
	if !ok {
		o, ok = s.orgLocked(org, true)
	}
	s.mu.Unlock()
	if !ok {
		s.fail("%s: no organization %q (see WithOrganizations and Server.Organizations)", fn, org)
	}
	return o, ok
}

// OrgEvents returns the events GET /orgs/{org}/audit-log would list now
// with no phrase, in that order, as copies: those of [Server.Events] whose
// org names the organization. org is its login or decimal ID; include and
// order are as for Events. An unknown organization fails the test (a server
// from [New]) or panics.
func (s *Server) OrgEvents(org string, include wire.Include, order wire.Order) []json.RawMessage {
	o, ok := s.findOrg("OrgEvents", org)
	if !ok {
		return nil
	}
	return s.listed("OrgEvents", o.Login, include, order)
}

// OrgBudget reports the server's view of a token's audit-log budget for
// one organization's path, as [Server.Budget] does for the enterprise's.
// org is its login or decimal ID; an unknown one fails the test (a server
// from [New]) or panics.
func (s *Server) OrgBudget(token, org string) (limit, remaining, used int, reset time.Time) {
	o, ok := s.findOrg("OrgBudget", org)
	if !ok {
		return 0, 0, 0, time.Time{}
	}
	return s.budget(budgetKey{token, ResourceAuditLog, orgEntity(o)})
}

// orgEntity and enterpriseEntity name the paths whose audit-log budgets
// GitHub counts apart: one per enterprise and per organization, whatever
// name (slug, login or ID) a request uses for it.
func orgEntity(o Org) string { return "organizations/" + strconv.FormatInt(o.ID, 10) }

// isEnterprise reports whether a path segment names the enterprise: its
// slug in any case, or its decimal ID.
func (s *Server) isEnterprise(seg string) bool {
	return strings.EqualFold(seg, s.cfg.enterprise) || seg == strconv.FormatInt(s.cfg.enterpriseID, 10)
}

func (s *Server) enterpriseEntity() string {
	return "enterprises/" + strconv.FormatInt(s.cfg.enterpriseID, 10)
}

// canonPathLocked rewrites the account segment of an API path so that every
// name of one account reads the same: the enterprise's slug (any case) or
// ID become "enterprises/#", an organization's login (any case) or ID
// "orgs/#<id>" (under /orgs/ or /organizations/ alike). Rules and the
// request log match on it.
func (s *Server) canonPathLocked(p string) string {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) < 2 {
		return p
	}
	switch parts[0] {
	case "enterprises":
		if s.isEnterprise(parts[1]) {
			parts[1] = "#"
		}
	case "orgs", "organizations":
		if o, ok := s.orgLocked(parts[1], parts[0] == "organizations"); ok {
			parts[1] = "#" + strconv.FormatInt(o.ID, 10)
		}
		parts[0] = "orgs"
	}
	return "/" + strings.Join(parts, "/")
}
