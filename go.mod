module github.com/ghaudit/auditlog

go 1.25.0
