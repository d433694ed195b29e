package policy_test

import (
	"path/filepath"
	"sync"
	"testing"

	policyconf "github.com/opendems/opendems/configs/policy"
	"github.com/opendems/opendems/policy"
)

// Decisions run while the policy is reloaded; run with -race. Every
// decision sees either the old or the new policy, never a mix.
func TestDecideDuringReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := policy.FileSource{ModelPath: filepath.Join(dir, "model.conf"), PolicyPath: filepath.Join(dir, "policy.csv")}
	writeFile(t, src.ModelPath, string(policyconf.AccessModel()))
	oldCSV := "p, officer, *, evidence:view, *, own, allow\n"
	newCSV := "p, officer, *, evidence:view, *, own, allow\np, officer, *, evidence:play, *, own, allow\n"
	writeFile(t, src.PolicyPath, oldCSV)
	a, err := policy.NewAccess(src)
	if err != nil {
		t.Fatal(err)
	}
	sub := policy.Subject{Role: policy.RoleOfficer, UnitPath: "patrol", Badge: "7"}
	res := policy.Resource{UnitPath: "patrol", OfficerID: "7"}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				d, err := a.Decide(sub, policy.ActEvidenceView, res)
				if err != nil || !d.Allowed {
					t.Errorf("view: %+v %v", d, err)
					return
				}
				if _, err := a.Decide(sub, policy.ActEvidencePlay, res); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		csv := oldCSV
		if i%2 == 0 {
			csv = newCSV
		}
		writeFile(t, src.PolicyPath, csv)
		if err := a.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	d, _ := a.Decide(sub, policy.ActEvidencePlay, res)
	if d.Allowed { // the last write (i=19) was the old policy
		t.Fatalf("final policy not in force: %+v", d)
	}
}
