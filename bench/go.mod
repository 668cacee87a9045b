module github.com/ghaudit/auditlog/bench

go 1.26.0

replace github.com/ghaudit/auditlog => ../

require (
	github.com/ghaudit/auditlog v0.2.0
	github.com/google/go-github/v92 v92.0.0
)

require (
	github.com/google/go-querystring v1.2.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)
