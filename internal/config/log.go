package config

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Log formats of --log-format.
const (
	LogText = "text" // logfmt-style key=value lines (slog.TextHandler)
	LogJSON = "json" // one JSON object per line (slog.JSONHandler)
)

// logLevel parses --log-level: debug, info, warn or error.
func logLevel(s string) (slog.Level, error) {
	var l slog.Level
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		err := l.UnmarshalText([]byte(s))
		return l, err
	}
	return l, fmt.Errorf("--log-level %q must be debug, info, warn or error", s)
}

// NewLogger returns the logger c's --log-format and --log-level describe,
// writing to w. Validate has checked both; an invalid value falls back to
// text at info.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	level, err := logLevel(c.LogLevel)
	if err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
