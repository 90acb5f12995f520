package predict

// The gonum module is required by the models of this package; this file
// keeps the dependency recorded until they land.
import _ "gonum.org/v1/gonum/floats"
