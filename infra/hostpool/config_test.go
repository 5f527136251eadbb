package hostpool

import (
	"strings"
	"testing"
)

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

func TestAPoolFileFlattensIntoSlots(t *testing.T) {
	slots, err := Parse([]byte(`
hosts:
  - name: box1
    address: 10.0.0.5
    public_address: play.example.com
    user: play
    host_key: "[10.0.0.5]:2222 ` + key + `"
    ssh_port: 2222
    slots:
      - {name: a, port_base: 10000, p2p_port_base: 11000, max_nodes: 8}
      - {name: b, port_base: 10100, p2p_port_base: 11100, max_nodes: 16}
  - name: box2
    address: 10.0.0.6
    user: root
    host_key: "` + key + ` root@box2"
    dir: /srv/lnplaylive
    slots:
      - {name: a, port_base: 10000, p2p_port_base: 11000, max_nodes: 8}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != 3 {
		t.Fatalf("%d slots", len(slots))
	}
	s := slots[1]
	if s.ID != "box1/b" || s.MaxNodes != 16 || s.Host.PortBase != 10100 || s.Host.SSHPort != 2222 ||
		s.Host.CustomerAddress() != "play.example.com" || s.Host.Address != "10.0.0.5" || !s.Host.NoCloudInit {
		t.Fatalf("slot %+v", s)
	}
	if slots[2].Host.SSHPort != 22 || slots[2].Host.RemoteDir != "/srv/lnplaylive" || slots[2].Host.CustomerAddress() != "10.0.0.6" {
		t.Fatalf("defaults: %+v", slots[2].Host)
	}
	// Both key forms pin the same key, without the comment.
	if slots[0].Host.HostKey != key || slots[2].Host.HostKey != key {
		t.Fatalf("pinned keys %q, %q", slots[0].Host.HostKey, slots[2].Host.HostKey)
	}
}

func TestPoolFileMistakesAreRefusedAtStart(t *testing.T) {
	host := func(extra string) string {
		return "hosts:\n  - name: box1\n    address: 10.0.0.5\n    user: play\n    host_key: \"" + key + "\"\n" + extra
	}
	for name, tc := range map[string]struct{ file, want string }{
		"no hosts":         {"hosts: []\n", "no hosts"},
		"unknown field":    {host("    slot: 1\n"), "field slot not found"},
		"no slots":         {host(""), "no slots"},
		"no host key":      {strings.Replace(host("    slots: [{name: a, port_base: 10000, p2p_port_base: 11000, max_nodes: 8}]\n"), key, "", 1), "host_key"},
		"bad host key":     {strings.Replace(host("    slots: [{name: a, port_base: 10000, p2p_port_base: 11000, max_nodes: 8}]\n"), key, "ssh-ed25519 AAAA", 1), "host_key"},
		"overlapping":      {host("    slots: [{name: a, port_base: 10000, p2p_port_base: 11000, max_nodes: 8}, {name: b, port_base: 10004, p2p_port_base: 11004, max_nodes: 8}]\n"), "port 10005 is also a's"},
		"ssh port clash":   {host("    slots: [{name: a, port_base: 21, p2p_port_base: 1021, max_nodes: 8}]\n"), "also ssh's"},
		"p2p ssh clash":    {host("    slots: [{name: a, port_base: 1000, p2p_port_base: 21, max_nodes: 8}]\n"), "also ssh's"},
		"port range":       {host("    slots: [{name: a, port_base: 65530, p2p_port_base: 30000, max_nodes: 8}]\n"), "out of range"},
		"p2p range":        {host("    slots: [{name: a, port_base: 10000, p2p_port_base: 65530, max_nodes: 8}]\n"), "p2p_port_base 65530"},
		"no p2p range":     {host("    slots: [{name: a, port_base: 10000, max_nodes: 8}]\n"), "p2p_port_base is required"},
		"p2p overlaps ws":  {host("    slots: [{name: a, port_base: 10000, p2p_port_base: 10004, max_nodes: 8}]\n"), "port 10005 is also a's"},
		"repeated slot":    {host("    slots: [{name: a, port_base: 10000, p2p_port_base: 11000, max_nodes: 8}, {name: a, port_base: 11000, p2p_port_base: 12000, max_nodes: 8}]\n"), "unique"},
		"bad name":         {strings.Replace(host("    slots: [{name: a, port_base: 10000, p2p_port_base: 11000, max_nodes: 8}]\n"), "box1", "Box 1", 1), "host name"},
		"relative dir":     {host("    dir: orders\n    slots: [{name: a, port_base: 10000, p2p_port_base: 11000, max_nodes: 8}]\n"), "absolute"},
		"no user":          {strings.Replace(host("    slots: [{name: a, port_base: 10000, p2p_port_base: 11000, max_nodes: 8}]\n"), "user: play", "user: \"\"", 1), "user"},
		"address is a url": {strings.Replace(host("    slots: [{name: a, port_base: 10000, p2p_port_base: 11000, max_nodes: 8}]\n"), "10.0.0.5", "ssh://x/", 1), "address"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
}
