package main

import (
	"fmt"
	"runtime/debug"
)

// buildCommit is the commit to report when the build information holds
// none: go build stamps it only in a plain git clone (not in a git
// worktree, nor in a container build without .git), so the Dockerfile
// sets it with -ldflags "-X main.buildCommit=...".
var buildCommit string

// versionString describes the running binary: the main module's version
// ("(devel)" for a build from a checkout, the tag for go install
// module@version), the VCS commit it was built from (with "+dirty" when the
// work tree had changes) and the commit time, and the Go version, all from
// the build information Go embeds (runtime/debug.ReadBuildInfo).
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "strand (no build information)"
	}
	return formatVersion(bi, buildCommit)
}

// formatVersion is versionString for given build information; fallback is
// the commit to name when bi has none.
func formatVersion(bi *debug.BuildInfo, fallback string) string {
	version := bi.Main.Version
	if version == "" {
		version = "(unknown)"
	}
	var rev, when, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	commit := "commit unknown"
	if rev == "" && fallback != "" {
		rev = fallback
	}
	if rev != "" {
		commit = "commit " + rev + dirty
		if when != "" {
			commit += " of " + when
		}
	}
	return fmt.Sprintf("strand %s (%s, %s)", version, commit, bi.GoVersion)
}
