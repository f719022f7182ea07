package main

import "testing"

const wrkSample = `Running 10s test @ http://127.0.0.1:9292/v2/images/x
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   312.41us  120.11us   5.12ms   90.01%
    Req/Sec    25.10k     1.02k   27.31k    70.50%
  Latency Distribution
     50%  290.00us
     75%  350.00us
     90%  420.00us
     99%  800.00us
  499512 requests in 10.00s, 401.12MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  49951.20
Transfer/sec:     40.11MB
`

func TestParseWrk(t *testing.T) {
	r, err := ParseWrk(wrkSample)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.RPS, 49951.20; got != want {
		t.Fatalf("RPS %v, want %v", got, want)
	}
	if r.P50 != "290.00us" || r.P99 != "800.00us" {
		t.Fatalf("percentiles %q %q", r.P50, r.P99)
	}
	if got, want := r.Requests, int64(499512); got != want {
		t.Fatalf("requests %d, want %d", got, want)
	}
	if got, want := r.Errors, 7; got != want {
		t.Fatalf("errors %d, want %d", got, want)
	}
	if _, err := ParseWrk("garbage"); err == nil {
		t.Fatal("no error for output without Requests/sec")
	}
}

func TestRatio(t *testing.T) {
	if got := Ratio(300, 1); got != 300 {
		t.Fatalf("Ratio = %v", got)
	}
	if got := Ratio(1, 0); got != 0 {
		t.Fatalf("Ratio by zero = %v", got)
	}
}

func TestRatios(t *testing.T) {
	res := []Result{
		{Scenario: "show", Target: "glance", RPS: 100},
		{Scenario: "show", Target: "nginx", RPS: 40000},
		{Scenario: "show", Target: "spyglass", RPS: 60000},
		{Scenario: "list", Target: "glance", RPS: 0},
		{Scenario: "list", Target: "spyglass", RPS: 5000},
	}
	got := Ratios(res)
	for _, tc := range []struct {
		key  string
		want float64
	}{{"show spyglass/glance", 600}, {"show spyglass/nginx", 1.5}} {
		t.Run(tc.key, func(t *testing.T) {
			if got, want := got[tc.key], tc.want; got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	if _, ok := got["list spyglass/glance"]; ok {
		t.Errorf("a zero-throughput peer must give no ratio")
	}
}
