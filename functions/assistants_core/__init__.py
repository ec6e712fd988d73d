"""Framework-free core of the serverless Assistants API: domain, wire schemas, ports, services, adapters."""
