"""What several test modules share: a ``stenod run`` subprocess and its helpers, a fake chat endpoint, and the
bookkeeping that makes sure no process a test started outlives the test run.

Test modules import from here (``from support.daemon import Daemon``), never from one another.
"""
