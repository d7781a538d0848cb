// Entry of the TEST-ONLY bundle dist-test/original-design-demo.js: the same page over the broken hook.
// The e2e suite serves it in place of /static/react/react-demo.js (page.route) to prove its checks fail.
import { mountDemo } from "../demo/mount.js";
import { useOriginalDesignHook } from "./originalDesignHook.js";

mountDemo(useOriginalDesignHook);
