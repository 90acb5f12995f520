module github.com/sitetwin/sitetwin

go 1.26
