package devserver

import (
	"net"
	"testing"
)

// A port taken between FreePort and the server's bind (another test
// package's process took it) costs a retry on fresh ports, not the test.
func TestAFirstStartOnATakenPortMovesToAFreeOne(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().(*net.TCPAddr).Port
	s := Start(t, func(s *Server) { s.Port = taken })
	if s.Port == taken {
		t.Fatalf("the server claims the taken port %d", taken)
	}
	c := s.Client(t)
	if _, err := c.CheckHealth(t.Context(), nil); err != nil {
		t.Fatalf("the server on its new port: %v", err)
	}
}
