package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spyglass-gateway/spyglass/i18n/i18ntest"
)

// seedBody is the api-ref's "API Message Localization" example as today's
// webob writes it (see gateway's TestSeedLocalizedNotFound).
const seedBody = "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  " +
	"&#25214;&#19981;&#21040;&#20219;&#20309;&#20855;&#26377;&#26631;&#35782; aaa &#30340;&#26144;&#20687;<br /><br />\n\n\n\n </body>\n</html>"

// TestLocalizedMessages: the binary reads i18n.locale_dir at start (a
// directory without catalogs stops it, naming the key), answers the seed's
// curl in Chinese, and re-reads the catalogs on SIGHUP; unreadable ones are
// logged and the catalogs in force stay.
func TestLocalizedMessages(t *testing.T) {
	bin := buildBinary(t)

	empty := t.TempDir()
	refused := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--data-dir", t.TempDir())
	refused.Env = append(os.Environ(), "SPYGLASS_I18N_LOCALE_DIR="+empty)
	out, err := refused.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("a locale_dir without catalogs: %v, want exit 2\n%s", err, out)
	}
	if want := "i18n.locale_dir: i18n: " + empty + " holds no catalog"; !strings.Contains(string(out), want) {
		t.Errorf("the refusal does not say %q:\n%s", want, out)
	}

	locale := i18ntest.Locale(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spyglass.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nadmin: {listen: \"off\"}\nregions: [{name: local, kind: local, data_dir: %q}]\ni18n: {locale_dir: %q}\n",
		filepath.Join(dir, "data"), locale)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startWithConfig(t, bin, cfgPath)
	get := func(lang string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+p.addr+"/v2/images/aaa", nil)
		req.Header.Set("Accept", "*/*") // curl's
		req.Header.Set("Content-Type", "application/json")
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /v2/images/aaa: %v\n%s", err, p.log())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const english = "No image found with ID aaa<br /><br />"
	if status, body := get("zh"); status != 404 || body != seedBody {
		t.Fatalf("Accept-Language zh: %d\n got %q\nwant %q\n%s", status, body, seedBody, p.log())
	}
	if _, body := get(""); !strings.Contains(body, english) {
		t.Errorf("no Accept-Language: %q, want English", body)
	}
	if !strings.Contains(p.log(), "message catalogs loaded") || !strings.Contains(p.log(), "languages=zh_CN") {
		t.Errorf("the start-up log does not name the catalogs:\n%s", p.log())
	}

	hup := func(want string) {
		t.Helper()
		n := strings.Count(p.log(), want)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(p.log(), want) <= n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log 20s after SIGHUP:\n%s", want, p.log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The catalog is now ja's (the same file): zh is English, ja the
	// catalog's text.
	if err := os.Rename(filepath.Join(locale, "zh_CN"), filepath.Join(locale, "ja")); err != nil {
		t.Fatal(err)
	}
	hup("configuration reloaded")
	if _, body := get("zh"); !strings.Contains(body, english) {
		t.Errorf("zh after the reload: %q, want English", body)
	}
	if _, body := get("ja"); body != seedBody {
		t.Errorf("ja after the reload: %q, want the catalog's", body)
	}
	// No catalog left: logged, the catalogs in force stay.
	if err := os.RemoveAll(filepath.Join(locale, "ja")); err != nil {
		t.Fatal(err)
	}
	hup("reload: unreadable message catalogs")
	if _, body := get("ja"); body != seedBody {
		t.Errorf("ja after a failed reload: %q, want the catalog in force", body)
	}
	if p.cmd.ProcessState != nil {
		t.Fatal("the process exited")
	}
}
