//! Regional rail end to end over HTTP, on SQLite and (with `YRD_TEST_POSTGRES_URL`)
//! PostgreSQL.

use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use yrd_kernel::AccessLevel::Write;
use yrd_testkit::{TestApp, backends};
use yrd_transit::realtime::{encode, single_update};
use yrd_transit::{TransitModule, demo_feed_files, gtfs, service};
use yrd_web::Module;

async fn apps() -> Vec<TestApp> {
    let mut out = Vec::new();
    for backend in backends() {
        let modules: Vec<Arc<dyn Module>> = vec![Arc::new(TransitModule::new())];
        let app = TestApp::start(backend, modules).await;
        service::import(&app.db, "test", "yrd-rail", demo_feed_files())
            .await
            .unwrap();
        out.push(app);
    }
    out
}

fn direct(journeys: &Value) -> Option<&Value> {
    journeys.as_array().unwrap().iter().find(|j| j["transfers"] == 0)
}

#[tokio::test]
async fn journeys_follow_the_timetable_and_real_time_changes() {
    for app in apps().await {
        let path = "/api/v1/transit/journeys?from=SHH&to=QDH&date=2026-11-28&time=10:00";
        let before = app.get(path, None).await;
        assert_eq!(before.status, StatusCode::OK, "{:?}", before.body);
        let loop_train = direct(&before.body).expect("G8388 runs from Shanghai to Qiandaohu");
        assert_eq!(loop_train["departure"], "10:27");
        assert_eq!(loop_train["legs"][0]["route"], "G8388");
        assert_eq!(loop_train["legs"][0]["from_platform"], "1");

        let operator = app.user_with_token("rail.ops", false, &[("transit", Write, "")]).await;
        let clerk = app
            .user_with_token("js.clerk", false, &[("transit", Write, "32")])
            .await;
        let delay = encode(&single_update("G8388-daily", 1, 1500, false));
        let post = |token: String, body: Vec<u8>| {
            let app = &app;
            async move {
                TestApp::reply(
                    app.client
                        .post(app.url("/api/v1/transit/realtime"))
                        .bearer_auth(token)
                        .header("content-type", "application/x-protobuf")
                        .body(body)
                        .send()
                        .await
                        .unwrap(),
                )
                .await
            }
        };
        assert_eq!(
            post(clerk, delay.clone()).await.status,
            StatusCode::FORBIDDEN,
            "only region-wide operators post delays"
        );
        assert_eq!(post(operator.clone(), delay).await.status, StatusCode::OK);
        let delayed = app.get(path, None).await.body;
        let delayed = direct(&delayed).unwrap();
        assert_eq!(delayed["departure"], "10:52");
        assert_eq!(delayed["legs"][0]["delayed"], true);

        let garbage = post(operator.clone(), b"\x08\x96\x01garbage".to_vec()).await;
        assert_eq!(garbage.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            direct(&app.get(path, None).await.body).unwrap()["departure"],
            "10:52",
            "garbage changes nothing"
        );

        assert_eq!(
            post(operator, encode(&single_update("G8388-daily", 1, 0, true)))
                .await
                .status,
            StatusCode::OK
        );
        assert!(
            direct(&app.get(path, None).await.body).is_none(),
            "the cancelled loop train is gone"
        );
        app.finish().await;
    }
}

#[tokio::test]
async fn bad_queries_name_the_field() {
    for app in apps().await {
        for (query, field) in [
            ("from=NOWHERE&to=QDH&date=2026-11-28&time=10:00", "from"),
            ("from=SHH&to=QDH&date=2026-13-01&time=10:00", "date"),
            ("from=SHH&to=QDH&date=2026-11-28&time=25:99", "time"),
            ("from=SHH&to=SHH&date=2026-11-28&time=10:00", "to"),
            ("from=SHH&to=QDH&date=%2B262143-12-31&time=10:00", "date"),
            ("from=SHH&to=QDH&date=-262144-01-01&time=10:00", "date"),
        ] {
            let reply = app.get(&format!("/api/v1/transit/journeys?{query}"), None).await;
            assert!(reply.status.is_client_error(), "{query}");
            assert_eq!(reply.error_paths(), [field], "{query}");
        }
        app.finish().await;
    }
}

#[tokio::test]
async fn export_then_import_gives_the_same_timetable_and_feeds_sit_side_by_side() {
    for app in apps().await {
        let zip = app
            .client
            .get(app.url("/api/v1/transit/feeds/yrd-rail/gtfs.zip"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let files = gtfs::unzip(&zip).unwrap();
        assert_eq!(files, demo_feed_files());
        let (original, _) = gtfs::parse(&demo_feed_files());
        let (again, _) = gtfs::parse(&files);
        assert_eq!(original.unwrap(), again.unwrap());
        // A second feed (another operator) next to the first.
        let mut other = files.clone();
        other.insert(
            "agency.txt".into(),
            "agency_id,agency_name,agency_url,agency_timezone\nother,Other rail,https://example.org,Asia/Shanghai\n"
                .into(),
        );
        service::import(&app.db, "test", "other-rail", other).await.unwrap();
        let feeds = app.get("/api/v1/transit/feeds", None).await.body;
        assert_eq!(feeds.as_array().unwrap().len(), 2);
        let stations = app.get("/api/v1/transit/stations?q=Hongqiao", None).await.body;
        assert_eq!(stations.as_array().unwrap().len(), 2, "one per feed");
        // A broken feed changes nothing: the previous one keeps serving.
        let mut broken = files;
        broken.insert(
            "stop_times.txt".into(),
            broken["stop_times.txt"].replacen("10:31:00", "25:99:00", 1),
        );
        assert!(matches!(
            service::import(&app.db, "test", "yrd-rail", broken).await,
            Err(service::ImportError::Invalid(_))
        ));
        let still = app
            .get(
                "/api/v1/transit/journeys?from=yrd-rail:SHH&to=yrd-rail:QDH&date=2026-11-28&time=10:00",
                None,
            )
            .await
            .body;
        assert_eq!(direct(&still).unwrap()["departure"], "10:27");
        app.finish().await;
    }
}

#[tokio::test]
async fn the_loop_line_and_the_planner_pages_render() {
    for app in apps().await {
        let loop_stops = app.get("/api/v1/transit/loop", None).await.body;
        let stops = loop_stops.as_array().unwrap();
        assert_eq!(stops.len(), 21);
        assert_eq!(stops[0]["station"]["name_zh"], "上海");
        assert_eq!(stops[20]["station"]["name_en"], "Shanghai Hongqiao");
        assert_eq!(stops[20]["arrival"], "18:36");
        for lang in ["zh", "en"] {
            for path in [
                "/transit",
                "/transit/loop",
                "/transit?from=yrd-rail:SHH&to=yrd-rail:C3413&date=2026-11-28&time=08:00",
            ] {
                let page = app
                    .client
                    .get(app.url(path))
                    .header("cookie", format!("yrd_lang={lang}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(page.status(), StatusCode::OK, "{path}");
                let html = page.text().await.unwrap();
                if path.contains("from=") {
                    assert!(html.contains("S7") || html.contains("G8388"), "journeys are shown");
                }
            }
        }
        let indicator = app.ctx.indicator("transit.cities_connected").unwrap();
        assert_eq!(indicator.current(None).await.unwrap(), 41.0);
        app.finish().await;
    }
}
