// Entry of /static/react/react-demo.js: the session page over the real hook.
import { useTranscriptionStatusSSE } from "../src/useTranscriptionStatusSSE.js";
import { mountDemo } from "./mount.js";

mountDemo(useTranscriptionStatusSSE);
