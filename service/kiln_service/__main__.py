from kiln_service.cli import main

raise SystemExit(main())
