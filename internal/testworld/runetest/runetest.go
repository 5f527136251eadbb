// Package runetest is Core Lightning's rune condition language, as
// createrune.json documents it, for the stand-ins and for tests: it decides
// what a rune allows, and how often, the way lightningd's checkrune and
// commando do. It is test code: lightningd's own runes.c is the authority,
// and a test on the real build (internal/realcln) holds this package to it.
package runetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Alternative is one condition: <field><op><value>.
type Alternative struct {
	Field string
	Op    byte
	Value string
}

func (a Alternative) String() string { return a.Field + string(a.Op) + a.Value }

// Restrictions are ANDed; the alternatives inside one are ORed.
type Restrictions [][]Alternative

const operators = "!=/^$~<>{}#"

// Parse reads a rune's restriction string ("=<id>&method=a|method=b&…"),
// returning its unique id and its restrictions (without the id's own).
// Backslash escapes "|", "&" and itself, as in CLN.
func Parse(s string) (uniqueID string, r Restrictions, err error) {
	for i, restr := range splitEscaped(s, '&') {
		var alts []Alternative
		for _, raw := range splitEscaped(restr, '|') {
			k := strings.IndexAny(raw, operators)
			if k < 0 {
				return "", nil, fmt.Errorf("runetest: %q has no operator", raw)
			}
			field := raw[:k]
			for _, c := range field {
				if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
					return "", nil, fmt.Errorf("runetest: bad field name %q", field)
				}
			}
			alts = append(alts, Alternative{Field: field, Op: raw[k], Value: raw[k+1:]})
		}
		if i == 0 && len(alts) == 1 && alts[0].Field == "" && alts[0].Op == '=' {
			uniqueID = alts[0].Value
			continue
		}
		r = append(r, alts)
	}
	return uniqueID, r, nil
}

// FromJSON reads createrune's restrictions parameter.
func FromJSON(lists [][]string) (Restrictions, error) {
	var r Restrictions
	for _, alts := range lists {
		_, one, err := Parse(strings.Join(alts, "|"))
		if err != nil {
			return nil, err
		}
		r = append(r, one...)
	}
	return r, nil
}

func splitEscaped(s string, sep byte) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == sep:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(out, cur.String())
}

// Call is one command a rune is presented with.
type Call struct {
	Method string
	Params json.RawMessage // object, array or empty
	PeerID string          // the commanding peer (commando), if any
	Now    time.Time
}

// Usage remembers when each rune (by unique id) was last let through, for
// the rate and per conditions. The zero value is ready.
type Usage map[string]time.Time

// ErrNotPermitted is what lightningd answers a refused call with (checkrune
// 1502, commando 19537 "Invalid rune: Not permitted: …").
var ErrNotPermitted = errors.New("Not permitted")

// Check decides a call: nil when every restriction has an alternative that
// passes. A permitted call is recorded in u, so rate limits bind.
func Check(uniqueID string, r Restrictions, c Call, u Usage) error {
	for _, alts := range r {
		var why []string
		ok := false
		for _, a := range alts {
			reason := a.pass(uniqueID, c, u)
			if reason == "" {
				ok = true
				break
			}
			why = append(why, reason)
		}
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotPermitted, strings.Join(why, " AND "))
		}
	}
	if u != nil {
		u[uniqueID] = c.Now
	}
	return nil
}

// field finds a condition's field in the call; ok is false when it does
// not exist (so every operator but ! and # fails).
func field(name string, c Call) (string, bool) {
	switch {
	case name == "method":
		return c.Method, true
	case name == "id":
		return c.PeerID, c.PeerID != ""
	case name == "time":
		return strconv.FormatInt(c.Now.Unix(), 10), true
	case name == "pnum":
		var obj map[string]json.RawMessage
		var arr []json.RawMessage
		if json.Unmarshal(c.Params, &obj) == nil {
			return strconv.Itoa(len(obj)), true
		}
		if json.Unmarshal(c.Params, &arr) == nil {
			return strconv.Itoa(len(arr)), true
		}
		return "0", true
	case strings.HasPrefix(name, "pname"):
		var obj map[string]json.RawMessage
		if json.Unmarshal(c.Params, &obj) != nil {
			return "", false
		}
		v, ok := obj[strings.TrimPrefix(name, "pname")]
		return scalar(v), ok
	case strings.HasPrefix(name, "parr"):
		var arr []json.RawMessage
		n, err := strconv.Atoi(strings.TrimPrefix(name, "parr"))
		if err != nil || json.Unmarshal(c.Params, &arr) != nil || n < 0 || n >= len(arr) {
			return "", false
		}
		return scalar(arr[n]), true
	}
	return "", false
}

// scalar is a parameter as conditions compare it: a string's contents,
// anything else as its JSON text.
func scalar(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(v))
}

// pass returns "" when the alternative passes, else why it failed.
func (a Alternative) pass(uniqueID string, c Call, u Usage) string {
	if a.Op == '#' {
		return ""
	}
	if a.Field == "rate" || a.Field == "per" {
		return a.limit(uniqueID, c, u)
	}
	got, exists := field(a.Field, c)
	if a.Op == '!' {
		if exists {
			return a.Field + " is present"
		}
		return ""
	}
	if !exists {
		return a.Field + " not present"
	}
	ok := false
	switch a.Op {
	case '=':
		ok = got == a.Value
	case '/':
		ok = got != a.Value
	case '^':
		ok = strings.HasPrefix(got, a.Value)
	case '$':
		ok = strings.HasSuffix(got, a.Value)
	case '~':
		ok = strings.Contains(got, a.Value)
	case '<', '>':
		x, err1 := strconv.ParseInt(got, 10, 64)
		y, err2 := strconv.ParseInt(a.Value, 10, 64)
		if err1 != nil || err2 != nil {
			return a.Field + " is not an integer"
		}
		ok = (a.Op == '<' && x < y) || (a.Op == '>' && x > y)
	case '{':
		ok = got < a.Value
	case '}':
		ok = got > a.Value
	}
	if !ok {
		return fmt.Sprintf("%s is not %s%s", a.Field, string(a.Op), a.Value)
	}
	return ""
}

// limit is rate=N (one call per 60/N seconds, since CLN 23.11) and per=D.
func (a Alternative) limit(uniqueID string, c Call, u Usage) string {
	if a.Op != '=' {
		return a.Field + " takes ="
	}
	var every time.Duration
	if a.Field == "rate" {
		n, err := strconv.Atoi(a.Value)
		if err != nil || n <= 0 {
			return "rate is not a positive integer"
		}
		every = time.Minute / time.Duration(n)
	} else {
		d, err := parsePer(a.Value)
		if err != nil {
			return err.Error()
		}
		every = d
	}
	if last, ok := u[uniqueID]; ok && c.Now.Sub(last) < every {
		return "too soon"
	}
	return ""
}

func parsePer(v string) (time.Duration, error) {
	units := []struct {
		suffix string
		d      time.Duration
	}{{"nsec", time.Nanosecond}, {"usec", time.Microsecond}, {"msec", time.Millisecond}, {"sec", time.Second},
		{"min", time.Minute}, {"hour", time.Hour}, {"day", 24 * time.Hour}}
	unit := time.Second
	for _, u := range units {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			v, unit = s, u.d
			break
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("per %q is not a duration", v)
	}
	return time.Duration(n) * unit, nil
}
