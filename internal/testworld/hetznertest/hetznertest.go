// Package hetznertest is an in-process Hetzner Cloud API for tests: the real
// hcloud-go client talks to it over HTTP. Shapes come from hcloud-go's own
// schema package; behaviour follows Hetzner's API: bearer-token auth,
// unique server names, label selectors, pagination, actions that run then
// succeed or fail, 429 with RateLimit headers, 5xx, resource_unavailable.
// Fault knobs make each endpoint misbehave on demand.
package hetznertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// Fault makes matching requests fail.
type Fault struct {
	Method string // "POST", "GET", "DELETE"
	Path   string // prefix, e.g. "/servers"
	Times  int    // how many matching requests fail
	Status int    // 429, 500, 503, …
	Code   string // Hetzner error code in the body
	// AfterEffect performs the request, then answers with the error: "the
	// server was made, but the response was lost".
	AfterEffect bool
	// Delay holds the response back (a slow API, or a client-side timeout).
	Delay time.Duration
	// Oversize answers 200 with a JSON body of this many bytes (hostile).
	Oversize int
}

// API is the stand-in. Use URL as HCLOUD_ENDPOINT.
type API struct {
	URL   string
	Token string
	// ActionPolls is how many action polls an action stays running; it
	// finishes anyway ActionTime after it started, polled or not, as at
	// Hetzner (a client that lost the response never polls).
	ActionPolls int
	ActionTime  time.Duration
	// Address assigned to every server's public IPv4, unless AddressFor
	// (by server name) says otherwise.
	Address    string
	AddressFor func(name string) string
	// Catalogue is the server types the API lists and sells
	// (TodaysCatalogue unless a test changes it before the first request).
	Catalogue []schema.ServerType
	// Images are the system images, by name, for both architectures.
	Images []string

	t   testing.TB
	srv *httptest.Server

	mu              sync.Mutex
	nextID          int64
	servers         map[int64]*schema.Server
	firewalls       map[int64]*schema.Firewall
	actions         map[int64]*action
	faults          []*Fault
	fullLocations   map[string]bool
	failActions     map[string]int // by command: how many more fail; -1 = all
	created         int            // servers ever created
	deleted         int
	maxPerOrder     int
	requests        map[string]int
	userData        map[int64]string
	deletedAt       map[string]time.Time // by lnplaylive-order label
	deleteRequested map[string]time.Time // by lnplaylive-order label
}

type action struct {
	a      schema.Action
	polls  int
	onDone func() // under mu
	fail   bool
}

// SSHKeyName is the one SSH key registered in the project.
const SSHKeyName = "operator"

// New starts the API.
func New(t testing.TB) *API {
	a := &API{
		Token: "test-token-" + strconv.FormatInt(time.Now().UnixNano(), 36), ActionPolls: 1, ActionTime: 200 * time.Millisecond, Address: "127.0.0.1",
		Catalogue: TodaysCatalogue(), Images: []string{"debian-12", "debian-13", "ubuntu-24.04"},
		t: t, nextID: 1000, servers: map[int64]*schema.Server{}, firewalls: map[int64]*schema.Firewall{},
		actions: map[int64]*action{}, fullLocations: map[string]bool{}, failActions: map[string]int{}, requests: map[string]int{}, userData: map[int64]string{}, deletedAt: map[string]time.Time{}, deleteRequested: map[string]time.Time{},
	}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	a.URL = a.srv.URL + "/v1"
	t.Cleanup(a.srv.Close)
	return a
}

// Inject adds a fault.
func (a *API) Inject(f Fault) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.faults = append(a.faults, &f)
}

// SetLocationFull makes server creation in a location fail with resource_unavailable.
func (a *API) SetLocationFull(loc string, full bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fullLocations[loc] = full
}

// FailActions makes actions of a command (e.g. "create_server") end in error.
func (a *API) FailActions(command string, fail bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failActions[command] = 0
	if fail {
		a.failActions[command] = -1
	}
}

// FailNextActions makes the next n actions of a command end in error.
func (a *API) FailNextActions(command string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failActions[command] = n
}

// Server is a server as a test sees it.
type Server struct {
	ID       int64
	Name     string
	Status   string
	Labels   map[string]string
	Location string
	Type     string
	UserData string
	Created  time.Time
}

// Servers lists existing servers by id.
func (a *API) Servers() []Server {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []Server{}
	for _, s := range a.servers {
		out = append(out, Server{ID: s.ID, Name: s.Name, Status: s.Status, Labels: s.Labels, Location: s.Location.Name,
			Type: s.ServerType.Name, UserData: a.userData[s.ID], Created: s.Created})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Counts reports servers created and deleted so far, and the most servers
// one order ever had at once (anything above 1 is a duplicate VM).
func (a *API) Counts() (created, deleted, maxPerOrder int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.created, a.deleted, a.maxPerOrder
}

// Requests counts requests by "METHOD /path".
func (a *API) Requests(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests[key]
}

// SetImages replaces the system images the API has.
func (a *API) SetImages(names ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Images = names
}

// PlantServer creates a server directly, as if made outside this run (an orphan).
func (a *API) PlantServer(name string, labels map[string]string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.newServerLocked(name, "cx23", "fsn1", labels)
	s.Status = "running"
	return s.ID
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	a.mu.Lock()
	a.requests[r.Method+" "+path]++
	for _, act := range a.actions {
		if act.a.Status == "running" && time.Since(act.a.Started) >= a.ActionTime {
			a.finishLocked(act)
		}
	}
	var fault *Fault
	for _, f := range a.faults {
		if f.Times > 0 && f.Method == r.Method && strings.HasPrefix(path, f.Path) {
			f.Times--
			fault = f
			break
		}
	}
	a.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+a.Token {
		writeError(w, http.StatusUnauthorized, "unauthorized", "unable to authenticate")
		return
	}
	if fault != nil {
		if fault.Delay > 0 {
			time.Sleep(fault.Delay)
		}
		if fault.Oversize > 0 {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"servers":[],"padding":"`))
			w.Write(bytes.Repeat([]byte("x"), fault.Oversize))
			w.Write([]byte(`"}`))
			return
		}
		if fault.Status != 0 {
			if fault.AfterEffect {
				a.route(httptest.NewRecorder(), r, path)
			}
			if fault.Status == http.StatusTooManyRequests {
				w.Header().Set("RateLimit-Limit", "3600")
				w.Header().Set("RateLimit-Remaining", "0")
				w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
			}
			code := fault.Code
			if code == "" {
				code = map[int]string{429: "rate_limit_exceeded", 503: "unavailable"}[fault.Status]
				if code == "" {
					code = "service_error"
				}
			}
			writeError(w, fault.Status, code, "injected fault")
			return
		}
	}
	a.route(w, r, path)
}

func (a *API) route(w http.ResponseWriter, r *http.Request, path string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == "GET" && path == "/ssh_keys":
		a.listSSHKeys(w, r)
	case r.Method == "GET" && path == "/server_types":
		a.listServerTypes(w, r)
	case r.Method == "GET" && path == "/images":
		a.listImages(w, r)
	case r.Method == "GET" && path == "/servers":
		a.listServers(w, r)
	case r.Method == "POST" && path == "/servers":
		a.createServer(w, r)
	case len(parts) == 2 && parts[0] == "servers" && r.Method == "GET":
		a.getServer(w, parts[1])
	case len(parts) == 2 && parts[0] == "servers" && r.Method == "DELETE":
		a.deleteServer(w, parts[1])
	case r.Method == "GET" && path == "/firewalls":
		a.listFirewalls(w, r)
	case r.Method == "POST" && path == "/firewalls":
		a.createFirewall(w, r)
	case len(parts) == 2 && parts[0] == "firewalls" && r.Method == "DELETE":
		a.deleteFirewall(w, parts[1])
	case r.Method == "GET" && path == "/actions":
		a.listActions(w, r)
	default:
		writeError(w, http.StatusNotFound, "not_found", "no route "+r.Method+" "+path)
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, schema.ErrorResponse{Error: schema.Error{Code: code, Message: msg, DetailsRaw: json.RawMessage("null")}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// matches implements label selectors: "k=v", "k!=v", "k", "!k", joined by ",".
func matches(labels map[string]string, selector string) bool {
	if selector == "" {
		return true
	}
	for _, term := range strings.Split(selector, ",") {
		term = strings.TrimSpace(term)
		switch {
		case strings.Contains(term, "!="):
			k, v, _ := strings.Cut(term, "!=")
			if labels[k] == v {
				return false
			}
		case strings.Contains(term, "="):
			k, v, _ := strings.Cut(term, "=")
			if got, ok := labels[k]; !ok || got != v {
				return false
			}
		case strings.HasPrefix(term, "!"):
			if _, ok := labels[term[1:]]; ok {
				return false
			}
		default:
			if _, ok := labels[term]; !ok {
				return false
			}
		}
	}
	return true
}

// page cuts a sorted list as Hetzner paginates it.
func page[T any](r *http.Request, items []T) ([]T, schema.Meta) {
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if p < 1 {
		p = 1
	}
	if per < 1 || per > 50 {
		per = 25
	}
	last := (len(items) + per - 1) / per
	if last == 0 {
		last = 1
	}
	m := schema.MetaPagination{Page: p, PerPage: per, LastPage: last, TotalEntries: len(items)}
	if p > 1 {
		m.PreviousPage = p - 1
	}
	if p < last {
		m.NextPage = p + 1
	}
	start := min((p-1)*per, len(items))
	end := min(start+per, len(items))
	return items[start:end], schema.Meta{Pagination: &m}
}

func (a *API) listSSHKeys(w http.ResponseWriter, r *http.Request) {
	keys := []schema.SSHKey{}
	if name := r.URL.Query().Get("name"); name == "" || name == SSHKeyName {
		keys = append(keys, schema.SSHKey{ID: 7, Name: SSHKeyName, Fingerprint: "00:11", PublicKey: "ssh-ed25519 AAAA operator", Labels: map[string]string{}})
	}
	writeJSON(w, 200, schema.SSHKeyListResponse{SSHKeys: keys})
}

func (a *API) listServerTypes(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	list := []schema.ServerType{}
	for _, t := range a.Catalogue {
		if name := r.URL.Query().Get("name"); name == "" || name == t.Name {
			list = append(list, t)
		}
	}
	a.mu.Unlock()
	writeList(w, r, "server_types", list, func(t schema.ServerType) int64 { return t.ID })
}

// listImages answers the system images, filtered as Hetzner filters them
// (name, architecture); a name it does not have lists nothing.
func (a *API) listImages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	list := []schema.Image{}
	a.mu.Lock()
	images := slices.Clone(a.Images)
	a.mu.Unlock()
	for i, name := range images {
		for j, arch := range []string{"x86", "arm"} {
			if (q.Get("name") == "" || q.Get("name") == name) && (q.Get("architecture") == "" || q.Get("architecture") == arch) {
				n := name
				list = append(list, schema.Image{ID: int64(200 + 2*i + j), Name: &n, Type: "system", Status: "available", Architecture: arch,
					OSFlavor: strings.Split(name, "-")[0], Description: name, Labels: map[string]string{}})
			}
		}
	}
	writeList(w, r, "images", list, func(i schema.Image) int64 { return i.ID })
}

// serverType is the listed type named, and whether it is sold in loc now.
func (a *API) serverTypeLocked(name, loc string) (t *schema.ServerType, available bool) {
	for i := range a.Catalogue {
		if a.Catalogue[i].Name != name {
			continue
		}
		for _, l := range a.Catalogue[i].Locations {
			if l.Name == loc {
				return &a.Catalogue[i], l.Available
			}
		}
		return &a.Catalogue[i], false
	}
	return nil, false
}

// writeInvalidField answers as Hetzner does for a field it cannot use: an
// unknown or removed server type, say.
func writeInvalidField(w http.ResponseWriter, field, why string) {
	writeJSON(w, 400, map[string]any{"error": map[string]any{"code": "invalid_input", "message": "invalid input in field '" + field + "'",
		"details": map[string]any{"fields": []map[string]any{{"name": field, "messages": []string{why}}}}}})
}

func (a *API) newServerLocked(name, typ, loc string, labels map[string]string) *schema.Server {
	a.nextID++
	s := &schema.Server{
		ID: a.nextID, Name: name, Status: "initializing", Created: time.Now().UTC(),
		PublicNet: schema.ServerPublicNet{
			IPv4: schema.ServerPublicNetIPv4{ID: a.nextID, IP: a.addressFor(name)},
			IPv6: schema.ServerPublicNetIPv6{ID: a.nextID, IP: "2001:db8::/64"},
		},
		ServerType: schema.ServerType{ID: 1, Name: typ, Cores: 2, Memory: 4, Disk: 40, Architecture: "x86"},
		Location:   schema.Location{ID: 1, Name: loc, NetworkZone: "eu-central"},
		Labels:     labels,
	}
	a.servers[s.ID] = s
	a.created++
	a.countPerOrderLocked()
	return s
}

func (a *API) addressFor(name string) string {
	if a.AddressFor != nil {
		if ip := a.AddressFor(name); ip != "" {
			return ip
		}
	}
	return a.Address
}

// DeleteRequestedAt says when the delete of an order's server was asked
// for (zero if not).
func (a *API) DeleteRequestedAt(orderID string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.deleteRequested[orderID]
}

// DeletedAt says when the server of an order was deleted (zero if not).
func (a *API) DeletedAt(orderID string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.deletedAt[orderID]
}

func (a *API) countPerOrderLocked() {
	per := map[string]int{}
	for _, s := range a.servers {
		if o := s.Labels["lnplaylive-order"]; o != "" {
			per[o]++
			a.maxPerOrder = max(a.maxPerOrder, per[o])
		}
	}
}

func (a *API) listServers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.mu.Lock()
	list := []schema.Server{}
	for _, s := range a.servers {
		if matches(s.Labels, q.Get("label_selector")) && (q.Get("name") == "" || q.Get("name") == s.Name) {
			list = append(list, *s)
		}
	}
	a.mu.Unlock()
	writeList(w, r, "servers", list, func(s schema.Server) int64 { return s.ID })
}

// writeList answers a list endpoint: items sorted by id, one page of them
// under key, and the pagination meta hcloud-go follows.
func writeList[T any](w http.ResponseWriter, r *http.Request, key string, list []T, id func(T) int64) {
	sort.Slice(list, func(i, j int) bool { return id(list[i]) < id(list[j]) })
	items, meta := page(r, list)
	writeJSON(w, 200, map[string]any{key: items, "meta": meta})
}

func (a *API) getServer(w http.ResponseWriter, id string) {
	n, _ := strconv.ParseInt(id, 10, 64)
	a.mu.Lock()
	s := a.servers[n]
	var out schema.Server
	if s != nil {
		out = *s
	}
	a.mu.Unlock()
	if s == nil {
		writeError(w, 404, "not_found", "server not found")
		return
	}
	writeJSON(w, 200, schema.ServerGetResponse{Server: out})
}

func (a *API) newActionLocked(command string, resID int64, resType string, onDone func()) schema.Action {
	a.nextID++
	act := &action{a: schema.Action{ID: a.nextID, Status: "running", Command: command, Started: time.Now().UTC(),
		Resources: []schema.ActionResourceReference{{ID: resID, Type: resType}}}, onDone: onDone, fail: a.failActions[command] != 0}
	if a.failActions[command] > 0 {
		a.failActions[command]--
	}
	a.actions[act.a.ID] = act
	if a.ActionPolls <= 0 {
		a.finishLocked(act)
	}
	return act.a
}

func (a *API) finishLocked(act *action) {
	now := time.Now().UTC()
	act.a.Finished, act.a.Progress = &now, 100
	if act.fail {
		act.a.Status = "error"
		act.a.Error = &schema.ActionError{Code: "action_failed", Message: "injected action failure"}
		if act.a.Command == "create_server" {
			// a server whose creation failed does not stay behind
			delete(a.servers, act.a.Resources[0].ID)
		}
		return
	}
	act.a.Status = "success"
	if act.onDone != nil {
		act.onDone()
	}
}

func (a *API) createServer(w http.ResponseWriter, r *http.Request) {
	var req schema.ServerCreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, 400, "invalid_input", "invalid JSON")
		return
	}
	switch {
	case req.Name == "" || req.ServerType.Name == "" || req.Image.Name == "":
		writeError(w, 400, "invalid_input", "name, server_type and image are required")
		return
	case len(req.SSHKeys) != 1 || req.SSHKeys[0] != 7:
		writeError(w, 400, "invalid_input", "unknown ssh key")
		return
	case req.Labels == nil:
		writeError(w, 400, "invalid_input", "labels missing")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	typ, available := a.serverTypeLocked(req.ServerType.Name, req.Location)
	switch {
	case typ == nil:
		writeInvalidField(w, "server_type", fmt.Sprintf("server type %s not found", req.ServerType.Name))
		return
	case !slices.Contains(a.Images, req.Image.Name):
		writeInvalidField(w, "image", fmt.Sprintf("image %s not found", req.Image.Name))
		return
	case !available:
		// Listed, but not sold here now (sold out, or never offered here).
		writeError(w, 412, "resource_unavailable", "server type "+typ.Name+" is unavailable in "+req.Location)
		return
	}
	if a.fullLocations[req.Location] {
		writeError(w, 503, "resource_unavailable", "location "+req.Location+" has no capacity for "+req.ServerType.Name)
		return
	}
	for _, s := range a.servers {
		if s.Name == req.Name {
			writeError(w, 409, "uniqueness_error", "server name is already used")
			return
		}
	}
	for _, f := range req.Firewalls {
		if a.firewalls[f.Firewall] == nil {
			writeError(w, 400, "invalid_input", "firewall not found")
			return
		}
	}
	s := a.newServerLocked(req.Name, req.ServerType.Name, req.Location, *req.Labels)
	s.ServerType = *typ
	a.userData[s.ID] = req.UserData
	act := a.newActionLocked("create_server", s.ID, "server", func() { s.Status = "running" })
	writeJSON(w, 201, schema.ServerCreateResponse{Server: *s, Action: act, NextActions: []schema.Action{}})
}

func (a *API) deleteServer(w http.ResponseWriter, id string) {
	n, _ := strconv.ParseInt(id, 10, 64)
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.servers[n]
	if s == nil {
		writeError(w, 404, "not_found", "server not found")
		return
	}
	s.Status = "deleting"
	if o := s.Labels["lnplaylive-order"]; o != "" && a.deleteRequested[o].IsZero() {
		a.deleteRequested[o] = time.Now()
	}
	act := a.newActionLocked("delete_server", s.ID, "server", func() {
		if srv := a.servers[n]; srv != nil {
			delete(a.servers, n)
			a.deleted++
			if o := srv.Labels["lnplaylive-order"]; o != "" {
				a.deletedAt[o] = time.Now()
			}
		}
	})
	writeJSON(w, 200, schema.ServerDeleteResponse{Action: act})
}

func (a *API) listFirewalls(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	list := []schema.Firewall{}
	for _, f := range a.firewalls {
		if matches(f.Labels, r.URL.Query().Get("label_selector")) {
			list = append(list, *f)
		}
	}
	a.mu.Unlock()
	writeList(w, r, "firewalls", list, func(f schema.Firewall) int64 { return f.ID })
}

func (a *API) createFirewall(w http.ResponseWriter, r *http.Request) {
	var req schema.FirewallCreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" {
		writeError(w, 400, "invalid_input", "invalid firewall")
		return
	}
	for _, rule := range req.Rules {
		if rule.Direction != "in" || rule.Protocol != "tcp" || rule.Port == nil || len(rule.SourceIPs) == 0 {
			writeError(w, 400, "invalid_input", "invalid rule")
			return
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range a.firewalls {
		if f.Name == req.Name {
			writeError(w, 409, "uniqueness_error", "firewall name is already used")
			return
		}
	}
	a.nextID++
	labels := map[string]string{}
	if req.Labels != nil {
		labels = *req.Labels
	}
	f := &schema.Firewall{ID: a.nextID, Name: req.Name, Labels: labels, Created: time.Now().UTC(), AppliedTo: []schema.FirewallResource{}}
	for _, rule := range req.Rules {
		f.Rules = append(f.Rules, schema.FirewallRule{Direction: rule.Direction, Protocol: rule.Protocol, Port: rule.Port,
			SourceIPs: rule.SourceIPs, DestinationIPs: []string{}})
	}
	a.firewalls[f.ID] = f
	writeJSON(w, 201, schema.FirewallCreateResponse{Firewall: *f, Actions: []schema.Action{}})
}

// FirewallRules returns the port rules of the firewall named name.
func (a *API) FirewallRules(name string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ports []string
	for _, f := range a.firewalls {
		if f.Name == name {
			for _, r := range f.Rules {
				ports = append(ports, *r.Port)
			}
		}
	}
	return ports
}

func (a *API) deleteFirewall(w http.ResponseWriter, id string) {
	n, _ := strconv.ParseInt(id, 10, 64)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.firewalls[n] == nil {
		writeError(w, 404, "not_found", "firewall not found")
		return
	}
	for _, s := range a.servers {
		if s.Name == a.firewalls[n].Name {
			writeError(w, 422, "resource_in_use", "firewall is applied to a server")
			return
		}
	}
	delete(a.firewalls, n)
	w.WriteHeader(204)
}

func (a *API) listActions(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	list := []schema.Action{}
	for _, idStr := range r.URL.Query()["id"] {
		n, _ := strconv.ParseInt(idStr, 10, 64)
		act := a.actions[n]
		if act == nil {
			continue
		}
		if act.a.Status == "running" {
			act.polls++
			act.a.Progress = min(90, act.polls*100/max(1, a.ActionPolls+1))
			if act.polls >= a.ActionPolls {
				a.finishLocked(act)
			}
		}
		list = append(list, act.a)
	}
	a.mu.Unlock()
	writeList(w, r, "actions", list, func(x schema.Action) int64 { return x.ID })
}
