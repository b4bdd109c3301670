//! The query string of `/oauth/{provider}/callback`
//! (`autopost::web::callback_query::CallbackQuery::parse`). Besides panics it reports an
//! accepted query whose state or code is not well formed.
#![no_main]

use autopost::web::callback_query::CallbackQuery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| {
    if let Ok(read) = CallbackQuery::parse(Some(query)) {
        assert!(!read.state.is_empty());
        if let Ok(code) = &read.outcome {
            assert!(!code.is_empty() && code.bytes().all(|b| b.is_ascii_graphic()));
        }
    }
});
