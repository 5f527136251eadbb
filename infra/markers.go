package infra

import "path"

// ReadyMarker is the file a new VM's first boot (cloud-init) writes once
// the container runtime is installed and answers: the bootstrap waits for
// it.
const ReadyMarker = "/var/lib/lnplaylive/cloud-init-done"

// FailedMarker is the file the first boot writes instead when installing
// the runtime failed, holding the cause: the bootstrap stops waiting and
// names it.
func FailedMarker(ready string) string { return path.Join(path.Dir(ready), "cloud-init-failed") }
