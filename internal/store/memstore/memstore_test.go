package memstore_test

import (
	"testing"

	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/store/memstore"
	"github.com/strand-db/strand/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memstore.New(t.TempDir()) })
}
