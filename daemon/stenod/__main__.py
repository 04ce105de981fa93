from stenod.cli import main

raise SystemExit(main())
