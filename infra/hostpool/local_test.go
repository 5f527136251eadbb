package hostpool

import (
	"testing"
)

func TestLocalSlotsDivideThePortRangeWithoutOverlap(t *testing.T) {
	first, last, err := ParsePortRange("20000-20999")
	if err != nil {
		t.Fatal(err)
	}
	slots, err := LocalSlots(first, last, 64, 10, "127.0.0.1", "/tmp/orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != 7 { // 1000 ports, 128 a slot
		t.Fatalf("%d slots", len(slots))
	}
	used := map[int]bool{}
	for _, s := range slots {
		h := s.Host
		if !h.Local || !h.NoCloudInit || h.RemoteDir != "/tmp/orders" {
			t.Fatalf("slot %s: %+v", s.ID, h)
		}
		for i := 1; i <= s.MaxNodes; i++ {
			for _, p := range []int{h.PortBase + i, h.P2PPortBase + i} {
				if used[p] || p < first || p > last {
					t.Fatalf("slot %s: port %d reused or outside the range", s.ID, p)
				}
				used[p] = true
			}
		}
	}
	if two, _ := LocalSlots(first, last, 8, 2, "127.0.0.1", "/tmp/o"); len(two) != 2 {
		t.Fatalf("count not honoured: %d", len(two))
	}
	for _, bad := range []string{"", "80-90", "20000", "30000-20000", "20000-70000", "a-b"} {
		if _, _, err := ParsePortRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := LocalSlots(20000, 20010, 64, 1, "127.0.0.1", "/tmp/o"); err == nil {
		t.Error("a range too small for one slot was accepted")
	}
	if _, err := LocalSlots(20000, 20999, 8, 1, "127.0.0.1", "orders"); err == nil {
		t.Error("a relative directory was accepted")
	}
}
