//! OCPP-J frames from stations: any text is a frame or a CALLERROR; a CALL's payload is
//! accepted or refused by each version's official schema with a code and a path, and
//! every refusal is itself a well-formed CALLERROR frame; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yrd_charging::ocpp::{self, Frame};
use yrd_charging::protocol::Version;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let frame = match ocpp::parse(text) {
        Ok(frame) => frame,
        Err(error) => {
            assert!(matches!(ocpp::parse(&error.frame()), Ok(Frame::Error { .. })));
            return;
        }
    };
    if let Frame::Call { id, action, payload } = frame {
        for version in Version::ALL {
            if let Err(error) = version.check_request(&id, &action, &payload) {
                assert!(matches!(ocpp::parse(&version.refusal(&error)), Ok(Frame::Error { .. })));
            }
        }
    }
});
