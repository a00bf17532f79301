//! Issue 5 on live tables: gup_fast variants (written next).
