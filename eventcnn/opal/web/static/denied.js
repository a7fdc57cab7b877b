// The page for a teacher address without (or with a wrong) token: words from the catalogue only.
"use strict";
window.I18N.init();
