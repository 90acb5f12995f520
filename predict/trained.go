package predict

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Saver is a trained model that can be written to a file and read back by
// LoadTrained: what `sitetwin train` writes and `run --trained` loads.
type Saver interface {
	Model
	// MarshalModel returns the model's file: everything it needs to
	// predict, in a documented format.
	MarshalModel() ([]byte, error)
}

// trainedSuffix ends the name of a trained model's file: NAME.model.json.
const trainedSuffix = ".model.json"

// loaders read the files of the models that learn, by model name.
var loaders = map[string]func([]byte) (Model, error){}

// SaveTrained writes a trained model into dir as NAME.model.json, through
// a temporary file renamed into place, and returns the file's path.
func SaveTrained(dir string, m Saver) (string, error) {
	b, err := m.MarshalModel()
	if err != nil {
		return "", fmt.Errorf("save model %s: %w", m.Name(), err)
	}
	name := filepath.Join(dir, m.Name()+trainedSuffix)
	tmp, err := os.CreateTemp(dir, "."+m.Name()+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("save model %s: %w", m.Name(), err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return "", fmt.Errorf("save model %s: %w", m.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("save model %s: %w", m.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return "", fmt.Errorf("save model %s: %w", m.Name(), err)
	}
	return name, nil
}

// LoadTrained reads every NAME.model.json in dir with the loader of the
// model NAME, sorted by name. A file of a model that does not learn, or
// one its loader refuses, is an error naming the file.
func LoadTrained(dir string) ([]Model, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load trained models: %w", err)
	}
	var out []Model
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), trainedSuffix)
		if !ok || e.IsDir() {
			continue
		}
		file := filepath.Join(dir, e.Name())
		load, ok := loaders[name]
		if !ok {
			return nil, fmt.Errorf("load %s: no model %q learns (trainable: %s)", file, name, strings.Join(slices.Sorted(mapKeys(loaders)), ", "))
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("load trained models: %w", err)
		}
		m, err := load(b)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", file, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Replace puts a model in place of the registered model of its name, or
// adds it.
func (r *Registry) Replace(m Model) error {
	if m.Name() == "" {
		return errors.New("replace model: empty name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.models == nil {
		r.models = map[string]Model{}
	}
	r.models[m.Name()] = m
	return nil
}
