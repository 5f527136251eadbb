// Package dockerengine is the container engine of the docker double: a
// daemon that runs a Compose project as Docker and the playground's images
// would, with the real binaries (lightningd v25.12.1, Bitcoin Core) in
// place of the images' contents.
//
// What it keeps of Docker, because the playground depends on it:
//   - every container is its own network namespace on a bridge per
//     project (itself in a namespace of its own: the host routes none of
//     it), with an address of its own and its own loopback, so
//     `0.0.0.0:9735` and `127.0.0.1:18443` mean inside it what they mean in
//     a container;
//   - service names resolve to container addresses (a hosts file per
//     project, bind-mounted over /etc/hosts), and those addresses change
//     after a host reboot;
//   - every container is its own PID namespace, so its first process is
//     PID 1 and the kernel drops a SIGTERM it has no handler for, exactly
//     as it does under Docker; `init: true` puts a signal-forwarding init
//     in front, as docker-init does;
//   - `stop` and `down` send SIGTERM, wait the grace period (10 s unless
//     `stop_grace_period` says otherwise) and then SIGKILL;
//   - `restart:` policies, with Docker's doubling back-off from 100 ms;
//   - named volumes mounted at their container paths (a private mount
//     namespace), kept across restarts and reboots, removed by `down -v`;
//   - published ports, forwarded from the host's address as docker-proxy
//     does;
//   - the images' own entrypoints and environment (images.go), and
//     Docker's refusals: an unknown image or tag, an invalid compose file
//     (compose-go, Compose's own loader), exec into a stopped container.
//
// What it does not do: pull, build, cgroups limits, users (everything
// runs as root), or reach any network outside the host.
package dockerengine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Builds are the real binaries that stand in for the images' contents.
type Builds struct {
	// CLN is an unpacked Core Lightning build (lightningd/, cli/, plugins/).
	CLN string
	// Bitcoin is an unpacked Bitcoin Core build (bin/bitcoind, bin/bitcoin-cli).
	Bitcoin string
}

// image is what a pulled image would give a container: its entrypoint,
// default command and environment.
type image struct {
	Entrypoint []string
	Cmd        []string
	Env        map[string]string
}

const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// clnEntrypoint is elementsproject/lightningd v25.12.1's
// tools/docker-entrypoint.sh as its source behaves: bash as PID 1 with no
// trap, job control on, lightningd started in the background with the
// image's network first (a later --network in the command wins), then
// brought to the foreground. The image then waits with inotifywait for
// the mainnet RPC socket; on regtest that directory never appears, it
// prints "Couldn't watch" and moves on, which is what this does.
const clnEntrypoint = `#!/usr/bin/env bash
set -m
lightningd --network="${LIGHTNINGD_NETWORK}" "$@" &
echo "Core-Lightning starting"
echo "Couldn't watch ${LIGHTNINGD_DATA}/bitcoin"
fg %-
`

// bitcoindEntrypoint is polarlightning/bitcoind:27.0's /entrypoint.sh as
// its source behaves: options alone mean bitcoind; bitcoind and the
// bitcoin tools run as user bitcoin (here: root with bitcoin's home, so
// the data directory is /home/bitcoin/.bitcoin); anything else is exec'd
// as given.
const bitcoindEntrypoint = `#!/bin/sh
set -e
case "$1" in -*) set -- bitcoind "$@" ;; esac
case "$1" in
bitcoind|bitcoin-cli|bitcoin-tx)
	mkdir -p /home/bitcoin/.bitcoin
	exec env HOME=/home/bitcoin "$@" ;;
esac
exec "$@"
`

// images writes the known images' entrypoints under dir and returns the
// registry, by image reference. An image missing here is refused as a
// registry would refuse it.
func images(dir string, b Builds) (map[string]image, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	write := func(name, body string) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, []byte(body), 0o755)
	}
	clnEP, err := write("lightningd-entrypoint.sh", clnEntrypoint)
	if err != nil {
		return nil, err
	}
	btcEP, err := write("bitcoind-entrypoint.sh", bitcoindEntrypoint)
	if err != nil {
		return nil, err
	}
	btcBin := filepath.Join(b.Bitcoin, "bin")
	return map[string]image{
		"elementsproject/lightningd:v25.12.1": {
			Entrypoint: []string{clnEP},
			Env: map[string]string{
				// lightningd and lightning-cli in /usr/local/bin, bitcoin-cli in /usr/bin.
				"PATH":               strings.Join([]string{filepath.Join(b.CLN, "lightningd"), filepath.Join(b.CLN, "cli"), btcBin, basePath}, ":"),
				"LIGHTNINGD_DATA":    "/root/.lightning",
				"LIGHTNINGD_NETWORK": "bitcoin",
				"HOME":               "/root",
			},
		},
		"polarlightning/bitcoind:27.0": {
			Entrypoint: []string{btcEP},
			Cmd:        []string{"bitcoind"},
			Env:        map[string]string{"PATH": btcBin + ":" + basePath, "HOME": "/root"},
		},
	}, nil
}

// resolve gives a service's argv as Docker composes it: an overridden
// entrypoint drops the image's default command.
func (im image) argv(entrypoint, command []string) []string {
	ep, cmd := im.Entrypoint, im.Cmd
	if entrypoint != nil {
		ep, cmd = entrypoint, nil
	}
	if command != nil {
		cmd = command
	}
	return append(append([]string{}, ep...), cmd...)
}

func unknownImage(ref string) error {
	return fmt.Errorf("Error response from daemon: pull access denied for %s, repository does not exist or may require 'docker login'", ref)
}
