//! Browser-only file helpers: a download made from text, and the text of a chosen
//! file. On the server (SSR) they are never reached: only event handlers call them.

/// Offers `text` as a file download named `name`.
pub(crate) fn download_text(name: &str, mime: &str, text: &str) -> Result<(), String> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{JsCast, JsValue};
        let err = |e: JsValue| format!("{e:?}");
        let parts = js_sys::Array::of1(&JsValue::from_str(text));
        let opts = web_sys::BlobPropertyBag::new();
        opts.set_type(mime);
        let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts).map_err(err)?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(err)?;
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or("no document")?;
        let a: web_sys::HtmlAnchorElement = document
            .create_element("a")
            .map_err(err)?
            .dyn_into()
            .map_err(|_| "not an anchor".to_string())?;
        a.set_href(&url);
        a.set_download(name);
        a.click();
        let _ = web_sys::Url::revoke_object_url(&url);
        Ok(())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (name, mime, text);
        Err("downloads need the browser".into())
    }
}

/// The text of the file chosen in the `<input type="file" id=input_id>`.
pub(crate) async fn chosen_file_text(input_id: &str) -> Result<String, String> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let input: web_sys::HtmlInputElement = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(input_id))
            .and_then(|e| e.dyn_into().ok())
            .ok_or("the file field is missing")?;
        let file = input
            .files()
            .and_then(|f| f.get(0))
            .ok_or("choose a backup file first")?;
        let text = wasm_bindgen_futures::JsFuture::from(file.text())
            .await
            .map_err(|e| format!("cannot read {}: {e:?}", file.name()))?;
        text.as_string()
            .ok_or_else(|| format!("{} is not a text file", file.name()))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = input_id;
        Err("uploads need the browser".into())
    }
}
