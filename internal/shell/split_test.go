package shell

import (
	"reflect"
	"testing"
)

func TestSplitterStatements(t *testing.T) {
	var s splitter
	var got []string
	for _, line := range []string{
		"SELECT 'a;b' FROM t; SELECT \"x;\"\"y\" FROM u;",
		"INSERT INTO t VALUE `{s: \"`;\", t: '''x;'''}`",
		"; -- trailing; comment",
		"/* a ; block",
		"comment */ DELETE FROM t",
		"  WHERE x = 'it''s;';;",
		"-- only a comment;",
	} {
		got = append(got, s.feed(line)...)
	}
	want := []string{
		"SELECT 'a;b' FROM t",
		"SELECT \"x;\"\"y\" FROM u",
		"INSERT INTO t VALUE `{s: \"`;\", t: '''x;'''}`",
		"-- trailing; comment\n/* a ; block\ncomment */ DELETE FROM t\n  WHERE x = 'it''s;'",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if s.pending() {
		t.Fatal("a comment alone left a statement pending")
	}
	s.feed("SELECT 1")
	if !s.pending() {
		t.Fatal("an unterminated statement is not pending")
	}
}
