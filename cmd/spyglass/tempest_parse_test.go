package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestTempestCSV checks how make tempest reads stestr's results: tags
// dropped, a class's setUpClass error under the class's id, subunit's
// "failure" a failure, an unknown status an error (not a test quietly
// dropped).
func TestTempestCSV(t *testing.T) {
	for _, tc := range []struct {
		name, csv string
		want      []tempestResult
		wantErr   bool
	}{
		{
			name: "statuses",
			csv: "test,status,start_time,stop_time\n" +
				`"tempest.api.image.v2.test_versions.VersionsTest.test_list_versions[id-659,smoke]",success,a,b` + "\n" +
				`"tempest.api.image.v2.test_images_negative.X.test_bad[id-c52f,negative]",failure,a,b` + "\n" +
				`tempest.api.image.v2.test_images.ImportImagesTest.test_remote_import[id-1],skip,a,b` + "\n" +
				`setUpClass (tempest.api.image.v1.test_images.ListImagesTest),fail,a,b` + "\n" +
				`tempest.api.image.v2.test_images.Y.test_z,inprogress,a,b` + "\n",
			want: []tempestResult{
				{"tempest.api.image.v2.test_versions.VersionsTest.test_list_versions", "success"},
				{"tempest.api.image.v2.test_images_negative.X.test_bad", "fail"},
				{"tempest.api.image.v2.test_images.ImportImagesTest.test_remote_import", "skip"},
				{"tempest.api.image.v1.test_images.ListImagesTest", "fail"},
			},
		},
		{name: "unknown status", csv: "test,status,start_time,stop_time\nt.x,weird,a,b\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTempestCSV([]byte(tc.csv))
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("error %v, want error: %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestTempestExpectedFailureLists reads the committed lists (each line an
// id and its reason) and refuses a line without a reason.
func TestTempestExpectedFailureLists(t *testing.T) {
	for _, p := range tempestProfiles {
		path := filepath.Join("testdata", "tempest", "expected-failures-"+p.name+".txt")
		list, err := readExpectedFailures(path)
		if err != nil {
			t.Fatal(err)
		}
		for id := range list {
			if !strings.HasPrefix(id, "tempest.api.image.") {
				t.Errorf("%s: %s is not a Tempest image API test", path, id)
			}
		}
	}
	for _, bad := range []string{"tempest.api.image.v2.X.test_y\n", "tempest.api.image.v2.X.test_y  #\n", "a b # why\n", "t.x # one\nt.x # two\n"} {
		path := filepath.Join(t.TempDir(), "list.txt")
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readExpectedFailures(path); err == nil {
			t.Errorf("readExpectedFailures(%q) = nil error, want one", bad)
		}
	}
}
