package playground

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lnplaylive/lnplaylive/internal/testworld/runetest"
)

// clamsCall is how Clams sends a method: plugin as `plugin list`,
// positional; the rest with named parameters or none.
func clamsCall(method string, now time.Time) runetest.Call {
	params := json.RawMessage(`{}`)
	if method == "plugin" {
		params = json.RawMessage(`["list"]`)
	}
	return runetest.Call{Method: method, Params: params, Now: now}
}

func allClamsMethods() []string {
	var all []string
	for _, ms := range ClamsMethods {
		all = append(all, ms...)
	}
	slices.Sort(all)
	return all
}

// refusedCalls are what SPEC §6 keeps from customers: plugin control, rune
// minting/listing/blacklisting, the datastore, setconfig, dev-*, secrets.
var refusedCalls = []runetest.Call{
	{Method: "plugin", Params: json.RawMessage(`["start", "/tmp/evil"]`)},
	{Method: "plugin", Params: json.RawMessage(`{"subcommand": "stop", "plugin": "bookkeeper"}`)},
	{Method: "plugin", Params: json.RawMessage(`{"subcommand": "startdir", "directory": "/tmp"}`)},
	{Method: "createrune"}, {Method: "showrunes"}, {Method: "blacklistrune"}, {Method: "commando-rune"},
	{Method: "datastore"}, {Method: "listdatastore"}, {Method: "deldatastore"},
	{Method: "setconfig"}, {Method: "dev-forget-channel"}, {Method: "dev-rescan-outputs"},
	{Method: "exposesecret"}, {Method: "makesecret"}, {Method: "stop"},
}

func profileRestrictions(t *testing.T, p RuneProfile) runetest.Restrictions {
	t.Helper()
	r, err := runetest.FromJSON(p.Restrictions)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPlaygroundRuneAllowsEveryClamsMethodAndNothingOfTheNodesOwn(t *testing.T) {
	r := profileRestrictions(t, PlaygroundProfile)
	now := time.Unix(1_800_000_000, 0)
	for _, m := range allClamsMethods() {
		if err := runetest.Check("0", r, clamsCall(m, now), nil); err != nil {
			t.Errorf("%s refused: %v", m, err)
		}
	}
	if err := runetest.Check("0", r, runetest.Call{Method: "plugin", Params: json.RawMessage(`{"subcommand":"list"}`), Now: now}, nil); err != nil {
		t.Errorf("plugin list (named) refused: %v", err)
	}
	for _, c := range refusedCalls {
		c.Now = now
		if runetest.Check("0", r, c, nil) == nil {
			t.Errorf("%s %s allowed", c.Method, c.Params)
		}
	}
}

func TestSeedRuneBlocksClamsAndStarvesItsFirstSync(t *testing.T) {
	r := profileRestrictions(t, SeedProfile)
	now := time.Unix(1_800_000_000, 0)
	var allowed, refused []string
	for _, m := range allClamsMethods() {
		if runetest.Check("0", r, clamsCall(m, now), nil) == nil {
			allowed = append(allowed, m)
		} else {
			refused = append(refused, m)
		}
	}
	t.Logf("seed profile allows %d of %d Clams methods: %s", len(allowed), len(allowed)+len(refused), strings.Join(allowed, " "))
	for _, m := range []string{"connect", "fundchannel", "close", "setchannel", "newaddr", "withdraw", "keysend",
		"waitblockheight", "signmessage", "disableoffer", "invoicerequest", "disableinvoicerequest", "sendinvoice"} {
		if !slices.Contains(refused, m) {
			t.Errorf("the seed rune allows %s", m)
		}
	}

	// Clams's first sync: a dozen calls within the same second.
	for _, p := range []struct {
		profile RuneProfile
		want    int
	}{{SeedProfile, 1}, {PlaygroundProfile, 12}} {
		usage := runetest.Usage{}
		answered := 0
		for k, m := range ClamsMethods["sync"][:12] {
			if runetest.Check("3", profileRestrictions(t, p.profile), clamsCall(m, now.Add(time.Duration(k)*20*time.Millisecond)), usage) == nil {
				answered++
			}
		}
		if answered != p.want {
			t.Errorf("%s: %d of 12 sync calls answered, want %d", p.profile.Name, answered, p.want)
		}
	}
}

func TestRuneCheckAcceptsOnlyTheProfilesRestrictions(t *testing.T) {
	auth := strings.Repeat("\x01", 32)
	for _, p := range []RuneProfile{PlaygroundProfile, SeedProfile} {
		good := "=7&" + restrictionString(p.Restrictions)
		if err := p.Check(encodeRune(auth+good), "7"); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"=7", "=8&" + restrictionString(p.Restrictions), good + "&method=x", good[:len(good)-1]} {
			if err := p.Check(encodeRune(auth+bad), "7"); err == nil {
				t.Errorf("%s accepted %q", p.Name, bad)
			}
		}
	}
	if PlaygroundProfile.Check(encodeRune(auth+"=7&"+restrictionString(SeedProfile.Restrictions)), "7") == nil {
		t.Fatal("a seed rune passed as a playground rune")
	}
}
