// Command lnplaylive-plugin is the Core Lightning plugin of lnplaylive:
// start lightningd with --plugin=/path/to/lnplaylive-plugin.
//
// It takes no command-line flags: lightningd passes --developer to every
// plugin when it runs in developer mode, and configuration arrives as
// lightningd options (--lnplaylive-…) in the protocol's init message.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/lnplaylive/lnplaylive/plugin"
)

func main() {
	// lightningd kills a plugin that writes anything but JSON-RPC to stdout.
	// Keep the real stdout for the protocol alone and point fd 1 at stderr,
	// so a stray print from any library lands in lightningd's log instead.
	protocolFD, err := syscall.Dup(1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lnplaylive: dup stdout:", err)
		os.Exit(1)
	}
	if err := syscall.Dup3(2, 1, 0); err != nil {
		fmt.Fprintln(os.Stderr, "lnplaylive: redirect stdout:", err)
		os.Exit(1)
	}
	protocolOut := os.NewFile(uintptr(protocolFD), "lightningd-protocol")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := plugin.Main(ctx, os.Stdin, protocolOut); err != nil {
		fmt.Fprintln(os.Stderr, "lnplaylive:", err)
		os.Exit(1)
	}
}
