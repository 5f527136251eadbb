// Package clnschema validates JSON against Core Lightning's own JSON schemas
// (../shared/cln/schemas, unmodified copies of CLN v26.06.6 doc/schemas).
//
// CLN's schemas use type names of their own (msat, hash, u64, …) that no
// standard validator knows. This package rewrites them into standard JSON
// Schema draft-07, with the meanings CLN's test harness gives them
// (pyln-testing fixtures.py), and then validates with a standard validator.
package clnschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Dir finds CLN's schemas: $LNPLAYLIVE_SHARED/cln/schemas when set, else
// ../shared/cln/schemas beside this repository, else the copy Fetch made
// in .data (`make test` fetches it when ../shared is absent).
func Dir() (string, error) {
	if s := os.Getenv("LNPLAYLIVE_SHARED"); s != "" {
		return filepath.Join(s, "cln", "schemas"), nil
	}
	dir := filepath.Join(root(), "..", "shared", "cln", "schemas")
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	fetched := filepath.Join(FetchedDir(), "schemas")
	if _, err := os.Stat(fetched); err == nil {
		return fetched, nil
	}
	return "", fmt.Errorf("clnschema: CLN schemas not found at %s nor %s: set LNPLAYLIVE_SHARED, or run `make schemas` to fetch them at %s", dir, fetched, Tag)
}

// root is this repository's top directory.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Set holds compiled schemas by name: "invoice", "notification/invoice_payment", …
type Set struct {
	dir string
	mu  sync.Mutex
	// compiled by name + "#request" / "#response"
	compiled map[string]*jsonschema.Schema
}

// Load prepares the schemas in dir; each is compiled on first use.
func Load(dir string) *Set {
	return &Set{dir: dir, compiled: map[string]*jsonschema.Schema{}}
}

// ValidateRequest checks params (an object) sent to a CLN method.
func (s *Set) ValidateRequest(method string, params []byte) error {
	return s.validate(method, "request", params)
}

// ValidateResponse checks the result of a CLN method, or a notification's
// payload (name "notification/<topic>").
func (s *Set) ValidateResponse(method string, result []byte) error {
	return s.validate(method, "response", result)
}

func (s *Set) validate(name, part string, doc []byte) error {
	sch, err := s.schema(name, part)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("%s %s: not JSON: %w", name, part, err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s %s violates CLN's schema: %w", name, part, err)
	}
	return nil
}

func (s *Set) schema(name, part string) (*jsonschema.Schema, error) {
	key := name + "#" + part
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch := s.compiled[key]; sch != nil {
		return sch, nil
	}
	raw, err := os.ReadFile(filepath.Join(s.dir, name+".json"))
	if err != nil {
		return nil, fmt.Errorf("clnschema: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("clnschema: %s: %w", name, err)
	}
	sub, ok := doc[part].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("clnschema: %s has no %s schema", name, part)
	}
	std := rewrite(sub, part == "request")
	url := "mem:///" + strings.ReplaceAll(name, "/", "_") + "-" + part + ".json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(url, std); err != nil {
		return nil, fmt.Errorf("clnschema: %s %s: %w", name, part, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("clnschema: compile %s %s: %w", name, part, err)
	}
	s.compiled[key] = sch
	return sch, nil
}

const (
	msatString = `^[0-9]+(msat|sat)?$|^[0-9]+\.[0-9]{3}sat$|^[0-9]+\.[0-9]{1,11}btc$`
)

// cln types → standard schemas. Requests accept msat as an integer or an
// amount string; every msat in a response is an integer.
func clnType(name string, request bool) (map[string]any, bool) {
	hexN := func(n int) map[string]any {
		return map[string]any{"type": "string", "pattern": fmt.Sprintf("^[0-9a-fA-F]{%d}$", n)}
	}
	uint := func(max uint64) map[string]any {
		return map[string]any{"type": "integer", "minimum": 0, "maximum": max}
	}
	msat := map[string]any{"type": "integer", "minimum": 0}
	if request {
		msat = map[string]any{"oneOf": []any{
			map[string]any{"type": "integer", "minimum": 0},
			map[string]any{"type": "string", "pattern": msatString},
		}}
	}
	switch name {
	case "hex":
		return map[string]any{"type": "string", "pattern": "^([0-9a-fA-F]{2})*$"}, true
	case "hash", "secret", "txid":
		return hexN(64), true
	case "pubkey":
		return map[string]any{"type": "string", "pattern": "^0[23][0-9a-fA-F]{64}$"}, true
	case "u64":
		return uint(1<<64 - 1), true
	case "u32":
		return uint(1<<32 - 1), true
	case "u16":
		return uint(1<<16 - 1), true
	case "u8":
		return uint(1<<8 - 1), true
	case "msat":
		return msat, true
	case "sat":
		// A whole number of satoshis, or an amount string.
		return msat, true
	case "sat_or_all":
		return map[string]any{"anyOf": []any{msat, map[string]any{"const": "all"}}}, true
	case "feerate":
		return map[string]any{"anyOf": []any{map[string]any{"type": "integer", "minimum": 0},
			map[string]any{"type": "string", "pattern": "^([0-9]+(perkw|perkb)?|slow|normal|urgent|minimum)$"}}}, true
	case "bip340sig", "signature":
		return map[string]any{"type": "string", "pattern": "^([0-9a-fA-F]{2})+$"}, true
	case "rune", "currency", "mutual":
		return map[string]any{"type": "string"}, true
	case "short_channel_id_dir":
		return map[string]any{"type": "string", "pattern": "^[0-9]+x[0-9]+x[0-9]+/[01]$"}, true
	case "msat_or_any":
		return map[string]any{"anyOf": []any{msat, map[string]any{"const": "any"}}}, true
	case "outpoint":
		return map[string]any{"type": "string", "pattern": "^[0-9a-fA-F]{64}:[0-9]+$"}, true
	case "short_channel_id":
		return map[string]any{"type": "string", "pattern": "^[0-9]+x[0-9]+x[0-9]+$"}, true
	case "ipv4":
		return map[string]any{"type": "string", "pattern": `^([0-9]{1,3}\.){3}[0-9]{1,3}$`}, true
	}
	return nil, false
}

// rewrite returns a standard draft-07 copy of a CLN schema node: CLN types
// become allOf clauses, and prose-only keys (description arrays, examples)
// are dropped where they would not be valid draft-07.
func rewrite(node any, request bool) any {
	switch n := node.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, v := range n {
			switch k {
			case "description", "added", "deprecated", "default":
				if _, isString := v.(string); !isString || k == "deprecated" {
					if _, isObj := v.(map[string]any); !isObj {
						continue // annotation, not a property named like this
					}
				}
			case "properties", "patternProperties", "definitions":
				props := map[string]any{}
				for pk, pv := range v.(map[string]any) {
					props[pk] = rewrite(pv, request)
				}
				out[k] = props
				continue
			}
			out[k] = rewrite(v, request)
		}
		if t, ok := out["type"].(string); ok {
			if std, custom := clnType(t, request); custom {
				delete(out, "type")
				allOf, _ := out["allOf"].([]any)
				out["allOf"] = append(allOf, std)
			}
		}
		return out
	case []any:
		out := make([]any, len(n))
		for i, v := range n {
			out[i] = rewrite(v, request)
		}
		return out
	default:
		return n
	}
}
