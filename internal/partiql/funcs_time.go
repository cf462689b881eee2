package partiql

import (
	"time"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Date and time functions: DATE_ADD, DATE_DIFF, EXTRACT, UTCNOW (and, in
// funcs_format.go, TO_STRING and TO_TIMESTAMP), with the rules of QLDB's
// function pages. Date parts arrive as lower-case string literals (see
// parser_funcs.go). Fields are read in the timestamp's own offset; a
// timestamp without a known offset (date precision, or -00:00) is UTC.

func init() {
	scalarFuncs["DATE_ADD"] = scalarFunc{3, 3, true, dateAddFunc}
	scalarFuncs["DATE_DIFF"] = scalarFunc{3, 3, true, dateDiffFunc}
	scalarFuncs["EXTRACT"] = scalarFunc{2, 2, true, extractFunc}
	scalarFuncs["UTCNOW"] = scalarFunc{0, 0, false, func(*execCtx, *Call, []*ionvalue.Value) (*ionvalue.Value, error) {
		return ionvalue.TimeMillis(time.Now()), nil
	}}
}

// minYear and maxYear bound Ion timestamps.
const (
	minYear = 1
	maxYear = 9999
)

// tsArg returns a timestamp argument's time or an error naming fn.
func tsArg(call *Call, v *ionvalue.Value, what string) (ion.Timestamp, error) {
	if v.Type != ion.TimestampType {
		return ion.Timestamp{}, evalErr(call.Pos, "%s expects a timestamp as %s, found %s", call.Name, what, typeName(v))
	}
	return v.Time, nil
}

// daysIn is the number of days of month m of year y.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// addMonths adds n months to t, keeping the day of the month when it
// exists and otherwise using the month's last day (Jan 31 + 1 month is
// Feb 28 or 29), as Ion's timestamp arithmetic does.
func addMonths(t time.Time, n int64) (time.Time, bool) {
	y, m, d := t.Date()
	total := int64(y)*12 + int64(m-1) + n
	if total < minYear*12 || total > maxYear*12+11 {
		return t, false
	}
	ny, nm := int(total/12), time.Month(total%12+1)
	d = min(d, daysIn(ny, nm))
	return time.Date(ny, nm, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location()), true
}

// dateAddFunc is DATE_ADD(part, n, t): t moved by n parts. The result has
// at least the precision of part (DATE_ADD(month, 1, `2010T`) is 2010-02T,
// DATE_ADD(hour, 1, `2017T`) is 2017-01-01T01:00-00:00), and otherwise t's
// precision, fraction digits and offset.
func dateAddFunc(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
	part := a[0].Text
	n, ok := intArg(a[1])
	if !ok {
		return nil, evalErr(call.Pos, "DATE_ADD expects an int quantity, found %s", typeName(a[1]))
	}
	ts, err := tsArg(call, a[2], "its third argument")
	if err != nil {
		return nil, err
	}
	t := ts.GetDateTime()
	prec, kind := ts.GetPrecision(), ts.GetTimezoneKind()
	need := ion.TimestampPrecisionYear
	const maxSeconds = int64(maxYear) * 366 * 86400
	var secs int64
	switch part {
	case "year":
		if n > maxYear || n < -maxYear {
			return nil, dateRangeErr(call)
		}
		t, ok = addMonths(t, n*12)
	case "month":
		need = ion.TimestampPrecisionMonth
		if n > maxYear*12 || n < -maxYear*12 {
			return nil, dateRangeErr(call)
		}
		t, ok = addMonths(t, n)
	case "day":
		need, secs = ion.TimestampPrecisionDay, 86400
	case "hour":
		need, secs = ion.TimestampPrecisionMinute, 3600
	case "minute":
		need, secs = ion.TimestampPrecisionMinute, 60
	default: // second
		need, secs = ion.TimestampPrecisionSecond, 1
	}
	if secs > 0 {
		if n > maxSeconds/secs || n < -maxSeconds/secs {
			return nil, dateRangeErr(call)
		}
		t = time.Unix(t.Unix()+n*secs, int64(t.Nanosecond())).In(t.Location())
	}
	if !ok || t.Year() < minYear || t.Year() > maxYear {
		return nil, dateRangeErr(call)
	}
	if prec < need {
		if prec <= ion.TimestampPrecisionDay && need > ion.TimestampPrecisionDay {
			kind = ion.TimezoneUnspecified
		}
		prec = need
	}
	return ionvalue.Timestamp(makeTimestamp(t, prec, kind, ts.GetNumberOfFractionalSeconds())), nil
}

func dateRangeErr(call *Call) error {
	return evalErr(call.Pos, "%s result is outside the timestamp range (years %d to %d)", call.Name, minYear, maxYear)
}

// makeTimestamp builds an ion.Timestamp; dates never carry an offset.
func makeTimestamp(t time.Time, prec ion.TimestampPrecision, kind ion.TimezoneKind, frac uint8) ion.Timestamp {
	if prec <= ion.TimestampPrecisionDay {
		kind = ion.TimezoneUnspecified
	}
	if kind != ion.TimezoneLocal {
		t = t.UTC()
	}
	return ion.NewTimestampWithFractionalSeconds(t, prec, kind, frac)
}

// dateDiffFunc is DATE_DIFF(part, t1, t2): how many whole parts t2 is
// after t1 (negative when before). Years and months count calendar months
// (2010-12-31 to 2011-01-01 is 0 months), days whole 24-hour days of the
// calendar, hours, minutes and seconds whole elapsed units. t2 is read in
// t1's offset.
func dateDiffFunc(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
	ts1, err := tsArg(call, a[1], "its second argument")
	if err != nil {
		return nil, err
	}
	ts2, err := tsArg(call, a[2], "its third argument")
	if err != nil {
		return nil, err
	}
	t1 := localTime(ts1)
	t2 := ts2.GetDateTime().In(t1.Location())
	switch part := a[0].Text; part {
	case "year", "month":
		months := int64(t2.Year()-t1.Year())*12 + int64(t2.Month()-t1.Month())
		r1 := restOfMonth(t1)
		r2 := restOfMonth(t2)
		if months > 0 && r2 < r1 {
			months--
		} else if months < 0 && r2 > r1 {
			months++
		}
		if part == "year" {
			months /= 12
		}
		return ionvalue.Int(months), nil
	case "day":
		d1 := time.Date(t1.Year(), t1.Month(), t1.Day(), 0, 0, 0, 0, time.UTC)
		d2 := time.Date(t2.Year(), t2.Month(), t2.Day(), 0, 0, 0, 0, time.UTC)
		days := (d2.Unix() - d1.Unix()) / 86400
		n2 := nanosOfDay(t2)
		if days > 0 && n2 < nanosOfDay(t1) {
			days--
		} else if days < 0 && n2 > nanosOfDay(t1) {
			days++
		}
		return ionvalue.Int(days), nil
	default:
		unit := map[string]int64{"hour": 3600, "minute": 60, "second": 1}[part]
		secs := t2.Unix() - t1.Unix()
		ns := int64(t2.Nanosecond() - t1.Nanosecond())
		if secs > 0 && ns < 0 {
			secs--
		} else if secs < 0 && ns > 0 {
			secs++
		}
		return ionvalue.Int(secs / unit), nil
	}
}

// nanosOfDay is t's time of day in nanoseconds.
func nanosOfDay(t time.Time) int64 {
	return int64(t.Hour())*int64(time.Hour) + int64(t.Minute())*int64(time.Minute) +
		int64(t.Second())*int64(time.Second) + int64(t.Nanosecond())
}

// restOfMonth orders the part of t below the month: day, then time of day.
func restOfMonth(t time.Time) int64 {
	return int64(t.Day())*int64(24*time.Hour) + nanosOfDay(t)
}

// extractFunc is EXTRACT(part FROM t): an int. SECOND is the whole
// seconds; TIMEZONE_HOUR and TIMEZONE_MINUTE are the signed parts of the
// offset (-08:30 gives -8 and -30; an unknown offset gives 0).
func extractFunc(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
	ts, err := tsArg(call, a[1], "the value to extract from")
	if err != nil {
		return nil, err
	}
	t := localTime(ts)
	_, off := t.Zone()
	var r int
	switch a[0].Text {
	case "year":
		r = t.Year()
	case "month":
		r = int(t.Month())
	case "day":
		r = t.Day()
	case "hour":
		r = t.Hour()
	case "minute":
		r = t.Minute()
	case "second":
		r = t.Second()
	case "timezone_hour":
		r = off / 3600
	default: // timezone_minute
		r = off % 3600 / 60
	}
	return ionvalue.Int(int64(r)), nil
}

// localTime is ts's time in its own offset, or in UTC when it has none.
func localTime(ts ion.Timestamp) time.Time {
	t := ts.GetDateTime()
	if ts.GetTimezoneKind() != ion.TimezoneLocal {
		return t.UTC()
	}
	return t
}
